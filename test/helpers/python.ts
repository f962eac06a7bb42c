// The Python that the external-runner tests run: Debian's python3 with pyzmq
// (python3-zmq). A python3 earlier on PATH (pyenv, a venv) may lack pyzmq,
// so the candidates are tried in order and the first that imports zmq wins.
import { spawnSync } from 'node:child_process';

const CANDIDATES = ['/usr/bin/python3', 'python3'];

/** A python3 command that can `import zmq`, or undefined. */
export const PYTHON_ZMQ: string | undefined = CANDIDATES.find(
  (command) => spawnSync(command, ['-c', 'import zmq'], { stdio: 'ignore' }).status === 0,
);

/** Why the Python suites skip, or false: give it as node:test's `skip`. */
export const PYTHON_ZMQ_SKIP: string | false =
  PYTHON_ZMQ === undefined ? 'install pyzmq: apt-get install -y python3-zmq' : false;
