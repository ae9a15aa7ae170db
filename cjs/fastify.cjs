'use strict';
module.exports = require('./esm-only.cjs')('portcullis/fastify', () => require('../dist/adapters/fastify.js'));
