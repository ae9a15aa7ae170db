'use strict';
module.exports = require('./esm-only.cjs')('portcullis/fetch', () => require('../dist/adapters/fetch.js'));
