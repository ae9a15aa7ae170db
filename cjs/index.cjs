'use strict';
module.exports = require('./esm-only.cjs')('portcullis', () => require('../dist/index.js'));
