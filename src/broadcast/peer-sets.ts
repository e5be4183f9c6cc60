import type { NodeName } from './handler.js';

/** The eager (tree) and lazy (i_have) peers of one broadcast tree. */
export interface TreePeers {
  readonly eager: ReadonlySet<NodeName>;
  readonly lazy: ReadonlySet<NodeName>;
}

interface MutableTree {
  eager: Set<NodeName>;
  lazy: Set<NodeName>;
}

/**
 * Eager/lazy sets per root, as Partisan's `eager_sets`/`lazy_sets` over common defaults: a
 * root's tree is copied from the common sets on its first change. One tree per root, not the
 * paper's single set, because every gateway broadcasts: a shared tree is shortest only for
 * the root that shaped it (the paper's per-sender versus shared trees).
 *
 * Invariant: every peer in any set is a current member, and eager ∩ lazy = ∅. Keeping
 * non-members out is what stops a departed node from coming back through a tree update.
 */
export class PeerSets {
  private readonly members = new Set<NodeName>();
  private readonly common: MutableTree = { eager: new Set(), lazy: new Set() };
  /** Map order is recency: the first entry is the least recently used tree. */
  private readonly trees = new Map<NodeName, MutableTree>();

  constructor(
    private readonly maxTrees: number,
    /** Trees start with at most this many eager peers (Infinity: all, as Partisan). */
    private readonly eagerLimit: number,
  ) {}

  isMember(peer: NodeName): boolean {
    return this.members.has(peer);
  }

  memberList(): NodeName[] {
    return [...this.members].sort();
  }

  get memberCount(): number {
    return this.members.size;
  }

  /** The sets for `root` (the common ones if it has no tree of its own yet). */
  peers(root: NodeName): TreePeers {
    const tree = this.trees.get(root);
    if (!tree) return this.common;
    this.trees.delete(root);
    this.trees.set(root, tree);
    return tree;
  }

  /** Roots that have a tree of their own. */
  roots(): NodeName[] {
    return [...this.trees.keys()].sort();
  }

  addEager(peer: NodeName, root: NodeName): void {
    if (!this.members.has(peer)) return;
    const tree = this.own(root);
    tree.lazy.delete(peer);
    tree.eager.add(peer);
  }

  addLazy(peer: NodeName, root: NodeName): void {
    if (!this.members.has(peer)) return;
    const tree = this.own(root);
    tree.eager.delete(peer);
    tree.lazy.add(peer);
  }

  /** Paper, dynamic membership: "a new member is simply added to the set of eagerPushPeers" — of every tree. */
  addMember(peer: NodeName): void {
    if (this.members.has(peer)) return;
    this.members.add(peer);
    this.place(this.common, peer);
    for (const tree of this.trees.values()) this.place(tree, peer);
  }

  /** Paper, dynamic membership: a neighbour that leaves is removed from every set. */
  removeMember(peer: NodeName): void {
    if (!this.members.delete(peer)) return;
    this.common.eager.delete(peer);
    this.common.lazy.delete(peer);
    for (const tree of this.trees.values()) {
      tree.eager.delete(peer);
      tree.lazy.delete(peer);
    }
  }

  private place(tree: MutableTree, peer: NodeName): void {
    if (tree.eager.size < this.eagerLimit) tree.eager.add(peer);
    else tree.lazy.add(peer);
  }

  private own(root: NodeName): MutableTree {
    let tree = this.trees.get(root);
    if (tree) {
      this.trees.delete(root);
    } else {
      tree = { eager: new Set(this.common.eager), lazy: new Set(this.common.lazy) };
      // Bounded memory: the least recently used root falls back to the common sets and
      // rebuilds its tree by pruning, as after a restart.
      if (this.trees.size >= this.maxTrees) this.trees.delete(this.trees.keys().next().value!);
    }
    this.trees.set(root, tree);
    return tree;
  }
}
