// The `funkload` output: XML for Funkload's `fl-build-report`. Port of
// loads/output/_funkload.py (mozilla-services/loads); the XML shape is kept
// (<funkload> root, <config key value/>, one <response/> per hit, one
// <testResult/> per test run). Unlike Loads, which held every node until the
// end, it streams: header at onRunStart, elements buffered and flushed,
// footer at onRunEnd, so memory does not grow with hits. Three departures:
// attribute values are XML-escaped, a hit without a response or with a
// status ≥ 400 has result="Failure" (Loads wrote "Successful" for all), and
// a hit with a `name` option has the name as its url, so fl-build-report
// shows one URL for them all, and its real URL in the description (which
// Loads left empty).
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { Outcome } from '../metrics/events.ts';
import type { HitEvent, LoadsEvent, TestEndEvent } from '../metrics/events.ts';
import type { RunInfo } from '../metrics/summary.ts';
import { BufferedFile } from './buffered-file.ts';
import type { Output, OutputContext } from './output.ts';

export const DEFAULT_FUNKLOAD_FILENAME = 'funkload-report.xml';
/** The Funkload version Loads wrote this format for. */
const FUNKLOAD_VERSION = '1.17.0';

/** Escapes an attribute value; drops the control characters XML 1.0 forbids. */
export function escapeXmlAttr(value: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    let replacement: string;
    if (code === 38) {
      replacement = '&amp;';
    } else if (code === 60) {
      replacement = '&lt;';
    } else if (code === 62) {
      replacement = '&gt;';
    } else if (code === 34) {
      replacement = '&quot;';
    } else if (code < 32) {
      // Tab, LF and CR survive attribute normalisation only as references.
      replacement = code === 9 ? '&#9;' : code === 10 ? '&#10;' : code === 13 ? '&#13;' : '';
    } else {
      continue;
    }
    out += value.slice(from, i) + replacement;
    from = i + 1;
  }
  return from === 0 ? value : out + value.slice(from);
}

function pad3(n: number): string {
  return String(n).padStart(3, '0');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(6);
}

/** 'file.ts:Class.method' or 'pkg.mod.Class.method' → module, class, method. */
function splitFqn(fqn: string): { module: string; className: string; method: string } {
  const colon = fqn.lastIndexOf(':');
  if (colon !== -1) {
    const [className = '', method = ''] = fqn.slice(colon + 1).split('.');
    return { module: fqn.slice(0, colon), className, method };
  }
  const parts = fqn.split('.');
  if (parts.length >= 3) {
    return {
      module: parts.slice(0, -2).join('.'),
      className: parts.at(-2) ?? '',
      method: parts.at(-1) ?? '',
    };
  }
  return { module: '', className: parts[0] ?? '', method: parts[1] ?? '' };
}

export class FunkloadOutput implements Output {
  readonly name = 'funkload';
  readonly #file: BufferedFile;
  readonly #fqn: string;
  readonly #serverUrl: string;
  #users: number[] = [1];
  /** Cycle steps per users value: the plan is users outer, hits inner. */
  #stepsPerUsers = 1;
  /** Hits sent in the current test run, per virtual user (1-based index). */
  readonly #requests: number[] = [];
  /** The footer is appended (at the end, or on exit-now). */
  #ended = false;

  constructor(context: OutputContext, flushIntervalMs?: number) {
    const path = context.options['output_funkload_filename'] ?? DEFAULT_FUNKLOAD_FILENAME;
    this.#file = new BufferedFile(path, 'funkload', flushIntervalMs);
    this.#fqn = context.fqn;
    this.#serverUrl = context.options['server_url'] ?? '';
  }

  onRunStart(info: RunInfo): void {
    this.#file.open();
    this.#users = info.users.length > 0 ? info.users : [1];
    this.#stepsPerUsers = info.hits !== null && info.hits.length > 0 ? info.hits.length : 1;
    const { module, className, method } = splitFqn(info.fqn === '' ? this.#fqn : info.fqn);
    const config: [string, string][] = [
      ['id', method],
      ['class', className],
      // Loads wrote its own version here ('Loads Funkload export 0.2'): ours is the package's.
      ['class_description', `Loads Funkload export loads-runner-${info.version}`],
      ['cycle_time', '0'],
      ['cycles', `[${this.#users.join(', ')}]`],
      ['description', 'No test description'],
      ['duration', info.durationMs === null ? '1' : String(info.durationMs / 1000)],
      ['log_xml', resolve(this.#file.path)],
      ['method', method],
      ['module', module],
      ['node', hostname()],
      ['python_version', ''],
      ['server_url', this.#serverUrl],
      ['class_title', ''],
      ['configuration_file', ''],
      ['sleep_time', '0.0'],
      ['sleep_time_max', '0.0'],
      ['sleep_time_min', '0.0'],
      ['startup_delay', '0.0'],
    ];
    // Python's datetime.isoformat() without a zone, as Loads wrote it.
    const time = new Date(info.startedAt).toISOString().replace('Z', '');
    let header = `<funkload version="${FUNKLOAD_VERSION}" time="${time}">\n`;
    for (const [key, value] of config) {
      header += `<config key="${key}" value="${escapeXmlAttr(value)}"/>\n`;
    }
    this.#file.append(header);
  }

  onEvent(event: LoadsEvent): void {
    switch (event.type) {
      case 'hit':
        this.#writeHit(event);
        break;
      case 'test-start':
        this.#requests[event.currentUser] = 0;
        break;
      case 'test-end':
        this.#writeTestResult(event);
        break;
      default:
        break;
    }
  }

  #cycleOf(cycleIndex: number): number {
    return Math.floor(cycleIndex / this.#stepsPerUsers);
  }

  #writeHit(e: HitEvent): void {
    const cycle = this.#cycleOf(e.cycleIndex);
    const cvus = this.#users[cycle] ?? 0;
    const ok = e.status > 0 && e.status < 400;
    this.#requests[e.currentUser] = (this.#requests[e.currentUser] ?? 0) + 1;
    const named = e.name !== '';
    this.#file.append(
      `<response cycle="${pad3(cycle)}" cvus="${pad3(cvus)}" thread="${pad3(e.currentUser)}" ` +
        `suite="" name="" step="001" number="001" type="${e.method.toLowerCase()}" ` +
        `result="${ok ? 'Successful' : 'Failure'}" url="${escapeXmlAttr(named ? e.name : e.url)}" ` +
        `code="${e.status}" description="${named ? escapeXmlAttr(e.url) : ''}" time="${seconds(e.startedAt)}" ` +
        `duration="${seconds(e.elapsedMs)}" />\n`,
    );
  }

  #writeTestResult(e: TestEndEvent): void {
    const cycle = this.#cycleOf(e.cycleIndex);
    const dot = e.test.lastIndexOf('.');
    const suite = dot === -1 ? e.test : e.test.slice(0, dot);
    const name = dot === -1 ? '' : e.test.slice(dot + 1);
    const requests = this.#requests[e.currentUser] ?? 0;
    const success = e.outcome === Outcome.SUCCESS;
    const traceback = success ? '' : ` traceback="${escapeXmlAttr(e.errorStack)}"`;
    this.#file.append(
      `<testResult cycle="${pad3(cycle)}" cvus="${pad3(e.users)}" thread="${pad3(e.currentUser)}" ` +
        `suite="${escapeXmlAttr(suite)}" name="${escapeXmlAttr(name)}" ` +
        `time="${seconds(e.startedAt)}" result="${success ? 'Successful' : 'Failure'}" ` +
        `steps="1" duration="${seconds(e.elapsedMs)}" connection_duration="0" ` +
        `requests="${requests}" pages="${requests}" xmlrpc="0" redirects="0" images="0" ` +
        `links="0"${traceback} />\n`,
    );
  }

  async onRunEnd(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      this.#file.append('</funkload>\n');
    }
    await this.#file.close();
  }

  /** What was recorded, closed by the footer, so the report stays well-formed XML. */
  onExitNow(): void {
    if (!this.#ended) {
      this.#ended = true;
      this.#file.append('</funkload>\n');
    }
    this.#file.flushSync();
  }
}
