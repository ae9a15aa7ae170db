'use strict';
module.exports = require('./esm-only.cjs')('portcullis/express', () => require('../dist/adapters/express.js'));
