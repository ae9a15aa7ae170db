'use strict';
module.exports = require('./esm-only.cjs')('portcullis/passwords', () => require('../dist/passwords/index.js'));
