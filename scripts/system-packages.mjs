// The Debian packages the test suites use (`npm test` runs this first).
// Each is looked for by its command; what is missing is installed with
// apt-get when this runs as root on a machine that has it (CI, a fresh
// container), and otherwise named in one line, and the suites that need it
// skip with the same advice. Nothing is done when everything is there.
import { execFileSync, spawnSync } from 'node:child_process';

/** Command → the Debian package that provides it, and what needs it. */
const PACKAGES = [
  { command: 'openssl', package: 'openssl', for: 'the TLS tests' },
  { command: 'chromium', package: 'chromium', for: 'the report and dashboard browser tests' },
  { command: 'nats-server', package: 'nats-server', for: 'the distributed-run tests (the broker)' },
  {
    // Debian's python3 with pyzmq; a pyenv or venv python3 earlier on PATH may lack it.
    command: '/usr/bin/python3 -c "import zmq"',
    package: 'python3-zmq',
    for: 'the Python external-runner tests',
  },
];

const has = (command) =>
  spawnSync('sh', ['-c', command.includes(' ') ? command : `command -v ${command}`], {
    stdio: 'ignore',
  }).status === 0;

const missing = PACKAGES.filter((p) => !has(p.command));
if (missing.length > 0) {
  const names = missing.map((p) => p.package);
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && has('apt-get')) {
    console.log(`installing ${names.join(' ')} (apt-get) for ${missing.map((p) => p.for).join(', ')}`);
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
      execFileSync('apt-get', ['install', '-y', '-qq', ...names], {
        stdio: 'inherit',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } catch {
      console.log(`could not install ${names.join(' ')}; those suites will skip`);
    }
  } else {
    for (const p of missing) {
      console.log(`${p.command} not found: ${p.for} will skip (apt-get install ${p.package})`);
    }
  }
}
