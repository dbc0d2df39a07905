/**
 * The changelist: notary's file names and Go encoding/json bytes, so that notary and vouch can
 * share staged changes in one trust dir. The expected bytes below were written by the real
 * notary 0.7 CLI (`notary add`, `addhash`, `remove`, `delegation add/remove/purge`, `witness`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  Change,
  changeFileName,
  Changelist,
  delegationContent,
  goMarshal,
  goString,
  parseChange,
  parseDelegationContent,
  parseTargetContent,
  repoDir,
  serializeChange,
  targetContent,
} from '../../cli/changelist';
import { parsePublicKey } from '../../tuf/keys';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-changelist-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s, 'base64');

describe('bytes as the real notary writes them', () => {
  it('a target create with sha256 and sha512 (notary add)', () => {
    const c: Change = {
      action: 'create',
      scope: 'targets',
      type: 'target',
      path: 'v1&<x>',
      content: targetContent({
        length: 6,
        hashes: { sha512: b64('58IrmUxZ2c8rSOVJseJGZmNgRZMNPafBrLKZ0cO3+TH5Sq5B7dosKyB6NuEPi8uNRSI+VIePWzFufOO2vAGWKQ=='), sha256: b64('WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=') },
      }),
    };
    expect(serializeChange(c).toString()).toBe(
      '{"action":"create","role":"targets","type":"target","path":"v1\\u0026\\u003cx\\u003e","data":"eyJsZW5ndGgiOjYsImhhc2hlcyI6eyJzaGEyNTYiOiJXSkcxdFNMVjN3aHREL0N4RVB2WjBodTAvSEZqcnpUUWdvYWk2RWIydmdNPSIsInNoYTUxMiI6IjU4SXJtVXhaMmM4clNPVkpzZUpHWm1OZ1JaTU5QYWZCckxLWjBjTzMrVEg1U3E1Qjdkb3NLeUI2TnVFUGk4dU5SU0krVkllUFd6RnVmT08ydkFHV0tRPT0ifX0="}',
    );
  });

  it('a target create by sha256 only (notary addhash)', () => {
    const content = targetContent({ length: 29, hashes: { sha256: Buffer.from('9be8dca9978b667e589a2b70873242aa1325da4d7559d64371e62c370348bea5', 'hex') } });
    expect(serializeChange({ action: 'create', scope: 'targets', type: 'target', path: 'v3', content }).toString()).toBe(
      '{"action":"create","role":"targets","type":"target","path":"v3","data":"eyJsZW5ndGgiOjI5LCJoYXNoZXMiOnsic2hhMjU2IjoibStqY3FaZUxabjVZbWl0d2h6SkNxaE1sMmsxMVdkWkRjZVlzTndOSXZxVT0ifX0="}',
    );
  });

  it('a target delete, witness and forced delegation removal carry data null', () => {
    expect(serializeChange({ action: 'delete', scope: 'targets', type: 'target', path: 'v0', content: null }).toString()).toBe(
      '{"action":"delete","role":"targets","type":"target","path":"v0","data":null}',
    );
    expect(serializeChange({ action: 'update', scope: 'targets/releases', type: 'witness', path: '', content: null }).toString()).toBe(
      '{"action":"update","role":"targets/releases","type":"witness","path":"","data":null}',
    );
  });

  it('delegation add: threshold then add_keys (Go key field order), then a paths change', () => {
    const key = parsePublicKey({ keytype: 'ecdsa', keyval: { private: null, public: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtODE0ECb6FOQNp8s0H8ECQLRhTgoovsKY1wkCmXtwocEPLRLZlsVdLoS7AkR/T6QeaPxbFismByltJUr8vN4RA==' } });
    const keys = serializeChange({ action: 'create', scope: 'targets/releases', type: 'delegation', path: '', content: delegationContent({ threshold: 1, addKeys: [key] }) });
    expect(keys.toString()).toBe(
      '{"action":"create","role":"targets/releases","type":"delegation","path":"","data":"eyJ0aHJlc2hvbGQiOjEsImFkZF9rZXlzIjpbeyJrZXl0eXBlIjoiZWNkc2EiLCJrZXl2YWwiOnsicHVibGljIjoiTUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFdE9ERTBFQ2I2Rk9RTnA4czBIOEVDUUxSaFRnb292c0tZMXdrQ21YdHdvY0VQTFJMWmxzVmRMb1M3QWtSL1Q2UWVhUHhiRmlzbUJ5bHRKVXI4dk40UkE9PSIsInByaXZhdGUiOm51bGx9fV19"}',
    );
    expect(delegationContent({ addPaths: [''] }).toString()).toBe('{"add_paths":[""]}');
    expect(delegationContent({ addPaths: ['foo', 'bar'] }).toString()).toBe('{"add_paths":["foo","bar"]}');
    expect(delegationContent({ removePaths: ['foo'] }).toString()).toBe('{"remove_paths":["foo"]}');
    expect(delegationContent({ removeKeys: ['3fe9d02257be6e707104ebd7da194c573e61a50acc6c06d3d51c5f898f42f72a'] }).toString()).toBe(
      '{"remove_keys":["3fe9d02257be6e707104ebd7da194c573e61a50acc6c06d3d51c5f898f42f72a"]}',
    );
    expect(delegationContent({ clearPaths: true }).toString()).toBe('{"clear_paths":true}');
  });

  it('file names are 20-digit Unix nanoseconds, an underscore and a UUID', () => {
    expect(changeFileName(1795442402088712175n, '954e48f4-9ff6-4dc9-8e4c-32f505bbb5ba')).toBe('01795442402088712175_954e48f4-9ff6-4dc9-8e4c-32f505bbb5ba.change');
    expect(changeFileName()).toMatch(/^\d{20}_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.change$/);
  });
});

describe('Go encoding/json strings', () => {
  it('escapes HTML characters, controls and line separators as Go does, in lowercase hex', () => {
    expect(goString('a<b>&"\\\n\r\t\u0001\u2028é')).toBe('"a\\u003cb\\u003e\\u0026\\"\\\\\\n\\r\\t\\u0001\\u2028é"');
  });
  it('replaces lone surrogates with U+FFFD as Go does for invalid UTF-8', () => {
    expect(goString('x\ud800y')).toBe('"x\\ufffdy"');
    expect(goString('😀')).toBe('"😀"');
  });
  it('sorts map keys by UTF-8 bytes when asked', () => {
    expect(goMarshal({ b: 1, a: [true, null, 'x'], '\ue000': 1, '😀': 2 }, true)).toBe('{"a":[true,null,"x"],"b":1,"\ue000":1,"😀":2}');
  });
});

describe('reading notary-written changes back', () => {
  it('parses the target, delegation and witness changes notary wrote', () => {
    const t = parseChange(
      Buffer.from(
        '{"action":"create","role":"targets","type":"target","path":"v2","data":"eyJsZW5ndGgiOjYsImhhc2hlcyI6eyJzaGEyNTYiOiJXSkcxdFNMVjN3aHREL0N4RVB2WjBodTAvSEZqcnpUUWdvYWk2RWIydmdNPSIsInNoYTUxMiI6IjU4SXJtVXhaMmM4clNPVkpzZUpHWm1OZ1JaTU5QYWZCckxLWjBjTzMrVEg1U3E1Qjdkb3NLeUI2TnVFUGk4dU5SU0krVkllUFd6RnVmT08ydkFHV0tRPT0ifSwiY3VzdG9tIjp7ImIiOjEsImEiOlsxLDJdfX0="}',
      ),
    );
    expect(t).toMatchObject({ action: 'create', scope: 'targets', type: 'target', path: 'v2' });
    const meta = parseTargetContent(t.content);
    expect(meta.length).toBe(6);
    expect(meta.hashes.sha256?.toString('base64')).toBe('WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=');
    expect(meta.custom).toEqual({ b: 1, a: [1, 2] });

    const d = parseChange(Buffer.from('{"action":"update","role":"targets/*","type":"delegation","path":"","data":"eyJyZW1vdmVfa2V5cyI6WyIzZmU5ZDAyMjU3YmU2ZTcwNzEwNGViZDdkYTE5NGM1NzNlNjFhNTBhY2M2YzA2ZDNkNTFjNWY4OThmNDJmNzJhIl19"}'));
    expect(parseDelegationContent(d.content)).toEqual({ removeKeys: ['3fe9d02257be6e707104ebd7da194c573e61a50acc6c06d3d51c5f898f42f72a'] });
    expect(parseChange(Buffer.from('{"action":"update","role":"targets","type":"witness","path":"","data":null}')).content).toBeNull();
  });

  it('round-trips custom data with sorted keys (so a Go signer makes verifiable signatures)', () => {
    const content = targetContent({ length: 1, hashes: { sha256: Buffer.alloc(32) }, custom: { z: { y: 1, x: 'a<b' }, a: 2 } });
    expect(content.toString()).toBe('{"length":1,"hashes":{"sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},"custom":{"a":2,"z":{"x":"a\\u003cb","y":1}}}');
    expect(parseTargetContent(content).custom).toEqual({ a: 2, z: { x: 'a<b', y: 1 } });
  });

  it('rejects malformed change files with a clear error', () => {
    expect(() => parseChange(Buffer.from('{"action":"explode","role":"targets","type":"target","path":"x","data":null}'))).toThrow(/unknown action/);
    expect(() => parseChange(Buffer.from('{"action":"create","role":"targets","type":"target","path":"x","data":"not base64!"}'))).toThrow();
    expect(() => parseTargetContent(Buffer.from('{"length":-1,"hashes":{}}'))).toThrow(/not file meta/);
  });
});

describe('Changelist files in a trust dir', () => {
  it('stages changes as 0600 files under tuf/<gun>/changelist and lists them in staging order', () => {
    const trust = fs.mkdtempSync(path.join(dir, 't-'));
    const cl = new Changelist(trust, 'example.com/org/app');
    expect(cl.dir).toBe(path.join(trust, 'tuf/example.com/org/app/changelist'));
    const names = Array.from({ length: 50 }, (_, i) => `tag-${i}`);
    cl.addMany(names.map((n) => ({ action: 'create', scope: 'targets', type: 'target', path: n, content: targetContent({ length: 1, hashes: { sha256: Buffer.alloc(32) } }) })));
    const listed = cl.list();
    expect(listed.map((c) => c.path)).toEqual(names);
    expect(fs.statSync(listed[0]!.file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(cl.dir).mode & 0o777).toBe(0o700);
    expect(cl.remove([0, 2])).toBe(2);
    expect(cl.list().map((c) => c.path).slice(0, 2)).toEqual(['tag-1', 'tag-3']);
    expect(() => cl.remove([99])).toThrow(/no staged change number 99/);
    cl.clear();
    expect(cl.list()).toEqual([]);
  });

  it('reads a changelist file notary wrote, whatever its name order', () => {
    const trust = fs.mkdtempSync(path.join(dir, 't-'));
    const cl = new Changelist(trust, 'g');
    fs.mkdirSync(cl.dir, { recursive: true });
    fs.writeFileSync(path.join(cl.dir, '01795442410161448231_a9cc3c11-63f0-4332-8a00-61c52e043c9e.change'), '{"action":"update","role":"targets/releases","type":"witness","path":"","data":null}');
    fs.writeFileSync(path.join(cl.dir, '01795442410161286470_1b03aebd-d49f-4763-b787-b0f52404b6ea.change'), '{"action":"update","role":"targets","type":"witness","path":"","data":null}');
    expect(cl.list().map((c) => c.scope)).toEqual(['targets', 'targets/releases']);
  });

  it('keeps a GUN inside the trust dir', () => {
    expect(() => repoDir('/trust', '../../etc')).toThrow(/cannot be used as a trust dir path/);
    expect(repoDir('/trust', 'a/b')).toBe('/trust/tuf/a/b');
  });
});
