// The server path is found the way the extension host would spawn it (node --test).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { missingServerMessage, resolveServer } from '../serverPath';

function binaryIn(dir: string, name: string, mode = 0o755): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, '#!/bin/sh\n');
  fs.chmodSync(file, mode);
  return file;
}

test('a bare name is looked up on PATH; a path is taken as it is', { skip: process.platform === 'win32' }, () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'acdp-empty-'));
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'acdp-bin-'));
  const acdp = binaryIn(bin, 'acdp');
  binaryIn(empty, 'acdp-data', 0o644);
  assert.equal(resolveServer('acdp', `${empty}:${bin}`), acdp);
  assert.equal(resolveServer('acdp', empty), undefined);
  assert.equal(resolveServer('acdp', undefined), undefined);
  assert.equal(resolveServer(acdp, ''), acdp);
  assert.equal(resolveServer(path.join(empty, 'acdp'), `${bin}`), undefined, 'a path is not searched for');
  assert.equal(resolveServer(path.join(empty, 'acdp-data'), ''), undefined, 'not executable');
  assert.equal(resolveServer(bin, ''), undefined, 'a folder is not a binary');
});

test('Windows endings from PATHEXT', () => {
  const seen: string[] = [];
  const runnable = (file: string) => {
    seen.push(file);
    return file === path.join('C:\\tools', 'acdp') + '.EXE';
  };
  assert.equal(resolveServer('acdp', 'C:\\tools', 'win32', '.COM;.EXE', runnable), path.join('C:\\tools', 'acdp') + '.EXE');
  assert.ok(seen.includes(path.join('C:\\tools', 'acdp') + '.COM'));
});

test('the message says what is missing and what to set', () => {
  assert.match(missingServerMessage('acdp'), /`acdp` is not on the PATH of VS Code's extension host/);
  assert.match(missingServerMessage('/opt/acdp/acdp'), /`\/opt\/acdp\/acdp` does not exist or is not executable/);
  assert.match(missingServerMessage('acdp'), /acdp\.serverPath/);
  assert.match(missingServerMessage('acdp'), /cargo install --path server\/cli/);
});
