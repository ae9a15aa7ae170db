'use strict';
module.exports = require('./esm-only.cjs')('portcullis/client', () => require('../dist/client/index.js'));
