//! The Merkle-tree log of RFC 6962 §2.1 (as restated in RFC 9162 §2.1): the basis of the witnessed audit
//! log (issue 7). Each node's audit chain becomes a Merkle log whose signed tree heads a central witness
//! countersigns after checking a consistency proof from the head it countersigned before, so a node that
//! rewrites, truncates or forks its history after a countersignature is caught.
//!
//! Pure functions over hashes; nothing here reads a clock, a file or a socket.

use ring::digest::{Context, SHA256};

pub type Hash = [u8; 32];

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut c = Context::new(&SHA256);
    for p in parts {
        c.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(c.finish().as_ref());
    out
}

/// MTH({d}) = SHA-256(0x00 ‖ d): leaves and nodes are hashed apart so a node cannot pose as a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(l: &Hash, r: &Hash) -> Hash {
    sha256(&[&[0x01], l, r])
}

/// MTH({}) = SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// The largest power of two smaller than `n` (n ≥ 2): where RFC 6962 splits a tree.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over already-hashed leaves.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf `index` (RFC 6962 §2.1.1); `None` if the index is outside.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    fn walk(d: &[Hash], m: usize, out: &mut Vec<Hash>) {
        if d.len() <= 1 {
            return;
        }
        let k = split(d.len());
        if m < k {
            walk(&d[..k], m, out);
            out.push(root(&d[k..]));
        } else {
            walk(&d[k..], m - k, out);
            out.push(root(&d[..k]));
        }
    }
    walk(leaves, index, &mut path);
    Some(path)
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// PROOF(m, D[n]) (RFC 6962 §2.1.2). `None` when `old_size` is 0 or larger than the tree (nothing to prove:
/// every tree extends the empty one); empty when the sizes are equal.
pub fn consistency_proof(leaves: &[Hash], old_size: usize) -> Option<Vec<Hash>> {
    if old_size == 0 || old_size > leaves.len() {
        return None;
    }
    fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = d.len();
        if m == n {
            if !complete {
                out.push(root(d));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, &d[..k], complete, out);
            out.push(root(&d[k..]));
        } else {
            subproof(m - k, &d[k..], false, out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    subproof(old_size, leaves, true, &mut out);
    Some(out)
}

/// Verifies that the tree of `new_size` with `new_root` extends the one of `old_size` with `old_root`
/// (RFC 9162 §2.1.4.2).
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old_size == 0 || old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old_size.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else { return false };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

/// An append-only Merkle tree kept as its frontier (the roots of its perfect subtrees, largest first):
/// O(log n) memory for a log of any length, the root at any time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactTree {
    size: u64,
    /// (height, root) of each perfect subtree, left to right.
    frontier: Vec<(u32, Hash)>,
}

impl CompactTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, r)) = self.frontier.last() {
            if h != node.0 {
                break;
            }
            self.frontier.pop();
            node = (h + 1, node_hash(&r, &node.1));
        }
        self.frontier.push(node);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let mut it = self.frontier.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(&(_, last)) => it.fold(last, |acc, (_, r)| node_hash(r, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hx(h: &Hash) -> String {
        hex::encode(h)
    }

    /// The eight leaves of Certificate Transparency's reference tests (RFC 6962 era `merkle_tree_test`,
    /// reused by Trillian and certificate-transparency-go) and the roots of their first n leaves.
    const LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves(n: usize) -> Vec<Hash> {
        LEAVES[..n].iter().map(|l| leaf_hash(&hex::decode(l).unwrap())).collect()
    }

    #[test]
    fn published_roots() {
        assert_eq!(hx(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        for n in 1..=8 {
            assert_eq!(hx(&root(&leaves(n))), ROOTS[n - 1], "root of the first {n} leaves");
        }
    }

    fn many(n: usize) -> Vec<Hash> {
        (0..n as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn compact_tree_matches_the_recursive_root() {
        let all = many(70);
        let mut t = CompactTree::new();
        assert_eq!(t.root(), empty_root());
        for (i, l) in all.iter().enumerate() {
            t.push(*l);
            assert_eq!(t.root(), root(&all[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies_and_any_change_fails() {
        let all = many(40);
        for n in 1..=40 {
            let r = root(&all[..n]);
            for m in 0..n {
                let p = inclusion_proof(&all[..n], m).unwrap();
                assert!(verify_inclusion(&all[m], m as u64, n as u64, &p, &r), "inclusion {m} in {n}");
                // (A wrong size with the same path shape can verify: size and root are bound by the signed
                // tree head, not by the path. An index outside the tree never does.)
                assert!(!verify_inclusion(&all[m], n as u64, n as u64, &p, &r));
                assert!(!verify_inclusion(&all[(m + 1) % n], m as u64, n as u64, &p, &r) || n == 1);
                for i in 0..p.len() {
                    let mut bad = p.clone();
                    bad[i][0] ^= 1;
                    assert!(!verify_inclusion(&all[m], m as u64, n as u64, &bad, &r));
                }
            }
            for m in 1..=n {
                let old = root(&all[..m]);
                let p = consistency_proof(&all[..n], m).unwrap();
                assert!(verify_consistency(m as u64, n as u64, &old, &r, &p), "consistency {m} → {n}");
                for i in 0..p.len() {
                    let mut bad = p.clone();
                    bad[i][31] ^= 0x80;
                    assert!(!verify_consistency(m as u64, n as u64, &old, &r, &bad), "tampered {m} → {n}");
                }
                if m < n {
                    // A forked old tree (another leaf at its end) is not extended by this one.
                    let mut forked = all[..m].to_vec();
                    forked[m - 1] = leaf_hash(b"rewritten");
                    assert!(!verify_consistency(m as u64, n as u64, &root(&forked), &r, &p));
                }
            }
        }
    }

    #[test]
    fn known_proofs_for_the_reference_leaves() {
        // Inclusion of leaf 0 in the 8-leaf tree: its sibling, then the roots of leaves 2-3 and 4-7.
        let l = leaves(8);
        let p = inclusion_proof(&l, 0).unwrap();
        assert_eq!(p, vec![l[1], root(&l[2..4]), root(&l[4..8])]);
        // Consistency 3 → 8 needs four hashes (leaf 2, leaf 3, the root of 0-1, the root of 4-7).
        let c = consistency_proof(&l, 3).unwrap();
        assert_eq!(c, vec![l[2], l[3], root(&l[0..2]), root(&l[4..8])]);
        assert!(verify_consistency(3, 8, &root(&l[..3]), &root(&l), &c));
        // 4 → 8: a power of two, so the old root itself is not sent.
        assert_eq!(consistency_proof(&l, 4).unwrap(), vec![root(&l[4..8])]);
    }

    proptest! {
        /// Garbage proofs, sizes and indices are rejected without panicking.
        #[test]
        fn garbage_never_verifies_or_panics(
            proof in proptest::collection::vec(any::<[u8; 32]>(), 0..20),
            a in any::<u64>(), b in any::<u64>(), leaf in any::<[u8; 32]>(), r in any::<[u8; 32]>()
        ) {
            // Passing would take a SHA-256 preimage.
            prop_assert!(!verify_inclusion(&leaf, a, b, &proof, &r));
            prop_assert!(!verify_consistency(a, b, &leaf, &r, &proof) || (a == b && leaf == r));
        }
    }
}
