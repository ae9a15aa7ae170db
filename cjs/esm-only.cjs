'use strict';
// portcullis is an ES module package. These files answer require() (the "require" condition of
// package.json's exports): where Node can require() an ES module (20.19+, 22.12+) they hand over the
// very same module an import would load; elsewhere they say so in one line instead of ERR_REQUIRE_ESM.
module.exports = function esmOnly(specifier, load) {
  if (!process.features.require_module) {
    throw new Error(
      `${specifier} is ESM-only: use import (await import('${specifier}') from CommonJS), or set "type": "module" in your package.json. ` +
        `This Node (${process.version}) cannot require() an ES module; Node 20.19+ and 22.12+ can.`,
    );
  }
  return load();
};
