/**
 * Target resolution (spec 5.8): notary's breadth-first search order, first match wins, role
 * priority lists that skip each other's subtrees (Docker's [targets/releases, targets]), and
 * effective paths.
 */
import { findTarget, listTargets, restrictPaths } from '../../../cli/client';
import { closeAll, harness } from './harness';

afterEach(closeAll);

it('searches breadth-first in delegation array order: a sibling beats a grandchild, the earlier sibling wins', async () => {
  const h = await harness({
    prepare: (sim) => {
      sim.addTarget('targets', 'top', 'top');
      sim.addDelegation('targets', 'targets/a');
      sim.addDelegation('targets', 'targets/b');
      sim.addDelegation('targets/a', 'targets/a/x');
      sim.addTarget('targets/a/x', 't', 'from a/x');
      sim.addTarget('targets/b', 't', 'from b');
      sim.addTarget('targets/a', 'u', 'from a');
      sim.addTarget('targets/b', 'u', 'from b');
      sim.addTarget('targets/b', 'top', 'shadow attempt');
    },
  });
  const repo = await h.update();
  expect(findTarget(repo, 't')?.role).toBe('targets/b');
  expect(findTarget(repo, 'u')?.role).toBe('targets/a');
  expect(findTarget(repo, 'top')?.role).toBe('targets');
  expect(findTarget(repo, 'nothing')).toBeNull();
  expect(listTargets(repo).map((t) => `${t.name}@${t.role}`)).toEqual(['t@targets/b', 'top@targets', 'u@targets/a']);
});

it("walks a priority list of roles, each subtree once, skipping the other listed roles' subtrees (Docker's order)", async () => {
  const h = await harness({
    prepare: (sim) => {
      sim.addTarget('targets', 'latest', 'signed by the repository key');
      sim.addTarget('targets', 'only-top', 'top');
      sim.addDelegation('targets', 'targets/releases');
      sim.addDelegation('targets', 'targets/alice');
      sim.addTarget('targets/releases', 'latest', 'signed by releases');
      sim.addDelegation('targets/releases', 'targets/releases/sub');
      sim.addTarget('targets/releases/sub', 'deep', 'deep');
      sim.addTarget('targets/alice', 'alice-only', 'a');
    },
  });
  const repo = await h.update();
  const docker = ['targets/releases', 'targets'];
  expect(findTarget(repo, 'latest', docker)?.role).toBe('targets/releases');
  expect(findTarget(repo, 'latest')?.role).toBe('targets');
  expect(findTarget(repo, 'only-top', docker)?.role).toBe('targets');
  expect(findTarget(repo, 'deep', docker)?.role).toBe('targets/releases/sub');
  // the targets walk still covers other delegations
  expect(findTarget(repo, 'alice-only', docker)?.role).toBe('targets/alice');
  // a single listed delegation: only its subtree
  expect(findTarget(repo, 'only-top', ['targets/releases'])).toBeNull();
  expect(findTarget(repo, 'alice-only', ['targets/releases'])).toBeNull();
  expect(findTarget(repo, 'latest', ['targets/nope'])).toBeNull();
  expect(listTargets(repo, docker).map((t) => `${t.name}@${t.role}`)).toEqual([
    'alice-only@targets/alice',
    'deep@targets/releases/sub',
    'latest@targets/releases',
    'only-top@targets',
  ]);
  expect(listTargets(repo, ['targets/releases']).map((t) => t.name)).toEqual(['deep', 'latest']);
});

it('restricts a child path to those under one of its parent paths (plain prefixes, not globs)', () => {
  expect(restrictPaths([''], ['a/', 'b'])).toEqual(['a/', 'b']);
  expect(restrictPaths(['a/'], ['a/b/', 'a', 'b/', ''])).toEqual(['a/b/']);
  expect(restrictPaths(['a/', 'c'], ['c/d', 'a/*'])).toEqual(['c/d', 'a/*']);
});

it('sorts listings by the UTF-8 bytes of the names', async () => {
  const h = await harness({
    prepare: (sim) => {
      for (const n of ['b', 'a&b<c>', '\u{1F600}', '\uFB01', 'A']) sim.addTarget('targets', n, n);
    },
  });
  const repo = await h.update();
  expect(listTargets(repo).map((t) => t.name)).toEqual(['A', 'a&b<c>', 'b', '\uFB01', '\u{1F600}']);
});
