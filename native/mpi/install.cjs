// npm's install step for rmsprop-pool: compiles the MPI binding against this machine's Open MPI
// (dist/scripts/build-mpi.js, which says when it skips: without Open MPI the package installs
// and runs, and only asking for MPI fails, naming how to get it). In a clone before `npm run
// build` there is nothing to compile with yet: the build compiles it. Never fails the install.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const script = join(__dirname, '..', '..', 'dist', 'scripts', 'build-mpi.js');
if (existsSync(script)) spawnSync(process.execPath, [script], { stdio: 'inherit' });
