// Where .proto files are found: ours (this folder), Envoy's and its dependencies'
// from the exactly pinned @grpc/grpc-js-xds package, and protobufjs's own copy of
// google/protobuf/*.proto (descriptor.proto among them).
'use strict';
const path = require('node:path');

function includePaths(projectRoot) {
  const xdsPkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json', { paths: [projectRoot] }));
  const pbPkg = path.dirname(require.resolve('protobufjs/package.json', { paths: [projectRoot] }));
  const deps = path.join(xdsPkg, 'deps');
  return [
    path.join(projectRoot, 'proto'),
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    pbPkg,
  ];
}

module.exports = { includePaths };
