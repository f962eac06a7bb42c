// EMFILE (too many open files): after the run, one line on stderr says how
// many requests failed that way, the process's open-files limit and how to
// raise it. End to end under a lowered limit (bash's ulimit, Linux only).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { emfileHint, parseOpenFilesLimit } from '../../src/cli/open-files.ts';
import { CLI_PATH } from '../helpers/cli.ts';
import { createTmpProject, type TmpProject } from '../helpers/tmp-project.ts';
import { startHttpServer, type TestServer } from '../helpers/servers.ts';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('parseOpenFilesLimit', () => {
  it('when /proc/self/limits has the line then it returns the soft and hard limits', () => {
    assert.deepEqual(parseOpenFilesLimit(LIMITS), { soft: 1024, hard: 524288 });
    assert.deepEqual(
      parseOpenFilesLimit(
        'Max open files            unlimited            unlimited            files\n',
      ),
      { soft: null, hard: null },
    );
  });

  it('when the line is missing then it returns null', () => {
    assert.equal(parseOpenFilesLimit('Max processes  100  100  processes\n'), null);
  });
});

describe('emfileHint', () => {
  it('when the soft limit is also the hard limit then it says to raise the hard limit', () => {
    assert.equal(
      emfileHint(2021, { soft: 1024, hard: 1024 }),
      "2021 requests failed with EMFILE (too many open files): this process may open 1024 files, its hard limit (ulimit -Hn); raise it with 'ulimit -n 65536' in a shell whose hard limit allows it (or LimitNOFILE= in systemd, --ulimit nofile=65536 in docker), or use fewer users",
    );
  });

  it('when the hard limit is higher then it suggests as much of it as 65536', () => {
    assert.match(
      emfileHint(1, { soft: 1024, hard: 4096 }),
      /^1 request failed with EMFILE .*: this process may open 1024 files \(ulimit -n\); raise it with 'ulimit -n 4096' or use fewer users$/,
    );
    assert.match(emfileHint(5, { soft: 1024, hard: null }), /raise it with 'ulimit -n 65536' or/);
    assert.match(
      emfileHint(5, { soft: 100_000, hard: null }),
      /raise it with 'ulimit -n 200000' or/,
    );
  });

  it('when the limit cannot be read then the line has no number', () => {
    assert.equal(
      emfileHint(7, null),
      "7 requests failed with EMFILE (too many open files): this process ran out of file descriptors; raise its open-files limit (e.g. 'ulimit -n 65536') or use fewer users",
    );
  });
});

const canLowerLimit =
  existsSync('/proc/self/limits') &&
  ((): boolean => {
    try {
      execFileSync('bash', ['-c', 'ulimit -n 256'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

describe('a run that runs out of file descriptors', { skip: !canLowerLimit }, () => {
  let server: TestServer;
  let project: TmpProject;
  before(async () => {
    // Slow answers keep every user's connection open at once.
    server = await startHttpServer((_req, res) => {
      setTimeout(() => res.end('ok'), 300);
    });
    project = await createTmpProject();
    await project.write(
      'many.ts',
      `import { TestCase } from 'loads-runner';
export class TestMany extends TestCase {
  async test_get() {
    await this.session.get('${server.url}/');
  }
}
`,
    );
  });
  after(async () => {
    await server.close();
    await project.remove();
  });

  it('when 600 users share 256 file descriptors then one line gives the count, the limit and the fix', async () => {
    const json = path.join(project.dir, 'emfile.json');
    const command = [
      'ulimit -n 256 &&',
      'exec',
      `'${process.execPath}'`,
      `'${CLI_PATH}'`,
      'many.TestMany.test_get -u 600 --workers 1 -o json --output-json-filename',
      `'${json}'`,
    ].join(' ');
    // Asynchronous: the server lives in this process and must keep answering.
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>(
      (resolve) => {
        execFile(
          'bash',
          ['-c', command],
          { cwd: project.dir, env: { ...process.env, CI: '1' }, timeout: 60_000 },
          (err, _stdout, stderrText) => {
            resolve({ code: err === null ? 0 : (err.code as number | null), stderr: stderrText });
          },
        );
      },
    );
    assert.equal(code, 1, stderr);
    const summary = JSON.parse(await readFile(json, 'utf8')) as {
      hits: number;
      hitErrorKeys: Record<string, number>;
    };
    assert.equal(summary.hits, 600);
    const emfile = summary.hitErrorKeys['EMFILE'] ?? 0;
    assert.ok(emfile > 0, `EMFILE errors: ${JSON.stringify(summary.hitErrorKeys)}`);
    const hints = stderr.split('\n').filter((line) => line.includes('EMFILE'));
    assert.deepEqual(hints, [
      `loads-runner: ${emfile} requests failed with EMFILE (too many open files): this process may open 256 files, its hard limit (ulimit -Hn); raise it with 'ulimit -n 65536' in a shell whose hard limit allows it (or LimitNOFILE= in systemd, --ulimit nofile=65536 in docker), or use fewer users`,
    ]);
  });
});
