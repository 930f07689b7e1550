//! Regions of a binary grid, shared by the fingerprint foreground (blocks) and the palm's hand mask
//! (pixels): 4-connected components, and the largest one with its holes filled.

/// Labels the 4-connected components of the cells equal to `value`. Returns (label per cell, `u32::MAX`
/// for the others; size per label; whether each label touches the grid's edge).
pub(crate) fn components(mask: &[bool], w: usize, h: usize, value: bool) -> (Vec<u32>, Vec<usize>, Vec<bool>) {
    let mut label = vec![u32::MAX; w * h];
    let (mut sizes, mut border) = (Vec::new(), Vec::new());
    let mut stack = Vec::new();
    for start in 0..w * h {
        if mask[start] != value || label[start] != u32::MAX {
            continue;
        }
        let id = sizes.len() as u32;
        let (mut n, mut touches) = (0usize, false);
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            n += 1;
            let (x, y) = (i % w, i / w);
            touches |= x == 0 || y == 0 || x == w - 1 || y == h - 1;
            let mut visit = |j: usize| {
                if mask[j] == value && label[j] == u32::MAX {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        sizes.push(n);
        border.push(touches);
    }
    (label, sizes, border)
}

/// The largest 4-connected region of `fg` (the first of equal ones) with its holes — background not
/// reachable from the grid's edge — filled, and that region's size before filling. All false when `fg`
/// has no set cell.
pub(crate) fn largest_filled(fg: &[bool], w: usize, h: usize) -> (Vec<bool>, usize) {
    let (label, sizes, _) = components(fg, w, h, true);
    let mut best: Option<(usize, usize)> = None;
    for (id, &n) in sizes.iter().enumerate() {
        if best.is_none_or(|(_, b)| n > b) {
            best = Some((id, n));
        }
    }
    let Some((id, n)) = best else { return (vec![false; w * h], 0) };
    let mut mask: Vec<bool> = label.iter().map(|l| *l == id as u32).collect();
    let (bl, _, bborder) = components(&mask, w, h, false);
    for (i, m) in mask.iter_mut().enumerate() {
        if !*m && bl[i] != u32::MAX && !bborder[bl[i] as usize] {
            *m = true;
        }
    }
    (mask, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest_region_and_fills_its_holes() {
        // 7×5: a ring with a hole (size 12) on the left, a 2-cell speck on the right.
        let g = [
            "###....", //
            "#.#..##", //
            "###....", //
            "#.#....", //
            "###....",
        ];
        let fg: Vec<bool> = g.iter().flat_map(|r| r.chars().map(|c| c == '#')).collect();
        let (m, n) = largest_filled(&fg, 7, 5);
        assert_eq!(n, 13);
        let want: Vec<bool> = g.iter().flat_map(|r| r.chars().enumerate().map(|(x, _)| x < 3)).collect();
        assert_eq!(m, want, "holes filled, the speck dropped");
        assert_eq!(largest_filled(&[false; 6], 3, 2), (vec![false; 6], 0));
    }
}
