//! Structural-byte bitmaps: the SIMD half of the parser.
//!
//! Line protocol has a delimiter every few bytes, so calling `memchr` once per
//! delimiter runs far below memchr's headline speed. Instead each 64-byte block
//! is classified at once into a `u64` whose set bits mark the structural bytes
//! (`\n`, space, `,`, `=`, `"`, `\`), the simdjson approach, and the parser walks
//! the set bits. Blocks are numbered from the start of the body (block `k`
//! covers bytes `64k..64k+64`), so a position maps to its bit without reference
//! to memory alignment.
//!
//! Invariant: `Structurals::next_at_or_after(p)` returns exactly what the scalar
//! oracle [`is_structural`] finds scanning forward from `p`; the tests check every
//! kernel against that oracle at every offset of padded inputs.

use bumpalo::Bump;

/// The bytes the parser stops at. Anything else is token content.
#[inline]
pub const fn is_structural(b: u8) -> bool {
    matches!(b, b'\n' | b' ' | b',' | b'=' | b'"' | b'\\')
}

/// Classifies one 64-byte block with plain Rust; the oracle the SIMD kernels are
/// tested against, and the kernel on targets without one.
#[inline]
pub fn mask_scalar(block: &[u8; 64]) -> u64 {
    let mut mask = 0u64;
    for (i, &b) in block.iter().enumerate() {
        mask |= (is_structural(b) as u64) << i;
    }
    mask
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// SSE2 is part of the x86_64 baseline, so this kernel needs no detection.
    #[inline]
    pub fn mask_sse2(block: &[u8; 64]) -> u64 {
        // SAFETY: SSE2 is always available on x86_64; the four unaligned loads
        // read exactly the 64 bytes of `block`.
        unsafe {
            let nl = _mm_set1_epi8(b'\n' as i8);
            let sp = _mm_set1_epi8(b' ' as i8);
            let comma = _mm_set1_epi8(b',' as i8);
            let eq = _mm_set1_epi8(b'=' as i8);
            let quote = _mm_set1_epi8(b'"' as i8);
            let bs = _mm_set1_epi8(b'\\' as i8);
            let mut mask = 0u64;
            for k in 0..4 {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
                let hits = _mm_or_si128(
                    _mm_or_si128(
                        _mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, sp)),
                        _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, eq)),
                    ),
                    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bs)),
                );
                mask |= (_mm_movemask_epi8(hits) as u16 as u64) << (16 * k);
            }
            mask
        }
    }

    /// # Safety
    /// The caller must have checked that the CPU supports AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn mask_avx2(block: &[u8; 64]) -> u64 {
        // A byte is structural when the entries its two nibbles pick from
        // these tables share a bit (simdjson's classifier): two shuffles
        // instead of six compares. Bits: 1 `\n`, 2 space, 4 `,`, 8 `"`,
        // 16 `=`, 32 `\`.
        const LOW: [i8; 16] = [2, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 36, 16, 0, 0];
        const HIGH: [i8; 16] = [1, 0, 14, 16, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        // SAFETY: AVX2 is enabled for this function and guaranteed by the caller;
        // the unaligned loads read the two tables and exactly the 64 bytes of
        // `block`.
        unsafe {
            let low = _mm256_broadcastsi128_si256(_mm_loadu_si128(LOW.as_ptr() as *const __m128i));
            let high =
                _mm256_broadcastsi128_si256(_mm_loadu_si128(HIGH.as_ptr() as *const __m128i));
            let nibble = _mm256_set1_epi8(0x0f);
            let plain = |v: __m256i| {
                let lo = _mm256_shuffle_epi8(low, _mm256_and_si256(v, nibble));
                let hi =
                    _mm256_shuffle_epi8(high, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
                let none = _mm256_cmpeq_epi8(_mm256_and_si256(lo, hi), _mm256_setzero_si256());
                _mm256_movemask_epi8(none) as u32 as u64
            };
            let first = plain(_mm256_loadu_si256(block.as_ptr() as *const __m256i));
            let second = plain(_mm256_loadu_si256(block.as_ptr().add(32) as *const __m256i));
            !(first | second << 32)
        }
    }
}

/// Which block classifier to use; chosen once per parse from what the CPU has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Sse2,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
            Kernel::Sse2
        }
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Scalar
    }

    /// Every kernel this CPU can run, for tests and benches.
    pub fn available() -> Vec<Kernel> {
        let mut all = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            all.push(Kernel::Sse2);
            if std::is_x86_feature_detected!("avx2") {
                all.push(Kernel::Avx2);
            }
        }
        all
    }

    #[inline]
    pub fn mask(self, block: &[u8; 64]) -> u64 {
        match self {
            Kernel::Scalar => mask_scalar(block),
            #[cfg(target_arch = "x86_64")]
            Kernel::Sse2 => x86::mask_sse2(block),
            // SAFETY: `Avx2` is only constructed after runtime detection found AVX2.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { x86::mask_avx2(block) },
        }
    }
}

/// Finds structural bytes moving forward through a body: by position
/// (`next_at_or_after`), or as a walk that takes each in turn (`begin`, then
/// `pop`), which spares the plain lines the position arithmetic. `Copy`, so
/// that a walk can run on a copy held in registers.
///
/// # Safety
/// The parser slices tokens between the positions a walk yields without
/// bounds checks, so an implementation must keep this contract: every
/// position returned is at most the body's length; `pop` returns a position
/// at or after the one the walk last began or sought at, and after the one
/// the previous `pop` returned unless that was the body's length (which it
/// then returns again).
pub unsafe trait Cursor: Copy {
    /// Position of the first structural byte at or after `pos`, or the body's length.
    fn next_at_or_after(&mut self, pos: usize) -> usize;
    /// Starts a walk at `pos`, the place [`Cursor::rewind`] goes back to.
    fn begin(&mut self, pos: usize) {
        self.seek(pos);
    }
    /// Moves the walk on to `pos`, which must not be before the last
    /// structural it took.
    fn seek(&mut self, pos: usize);
    /// The walk's next structural byte (or the body's length), which the
    /// walk then moves past. `next_at_or_after` stays right for positions
    /// past it.
    fn pop(&mut self) -> usize;
    /// Makes every position from `pos`, where the walk last began, on
    /// answerable again after the walk went past it.
    fn rewind(&mut self, pos: usize);
}

/// The `memchr` strategy: one search per delimiter. Kept as the measured
/// alternative to block bitmaps (see benches/lp_parse.rs); the rare bytes
/// (`\n`, `"`, `\\`) are searched once and remembered, the common ones
/// (space, `,`, `=`) up to the next rare one.
#[derive(Clone, Copy)]
pub struct MemchrCursor<'a> {
    buf: &'a [u8],
    /// The first rare byte at or after `rare_from` (or the length).
    rare_from: usize,
    next_rare: usize,
    /// Where the walk goes on from.
    walk: usize,
}

impl<'a> MemchrCursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        let next_rare = memchr::memchr3(b'\n', b'"', b'\\', buf).unwrap_or(buf.len());
        MemchrCursor {
            buf,
            rare_from: 0,
            next_rare,
            walk: 0,
        }
    }
}

// SAFETY: `pop` searches from `walk`, one past its last answer, and
// every search answers inside the body or its length.
unsafe impl Cursor for MemchrCursor<'_> {
    #[inline]
    fn next_at_or_after(&mut self, pos: usize) -> usize {
        if pos >= self.buf.len() {
            return self.buf.len();
        }
        // The parser may step back (a rejected line ends where InfluxDB's
        // splitter says), so the remembered rare byte is only good in range.
        if pos > self.next_rare || pos < self.rare_from {
            self.rare_from = pos;
            self.next_rare = memchr::memchr3(b'\n', b'"', b'\\', &self.buf[pos..])
                .map_or(self.buf.len(), |i| pos + i);
        }
        memchr::memchr3(b' ', b',', b'=', &self.buf[pos..self.next_rare])
            .map_or(self.next_rare, |i| pos + i)
    }

    fn seek(&mut self, pos: usize) {
        self.walk = pos;
    }

    fn pop(&mut self) -> usize {
        let found = self.next_at_or_after(self.walk);
        self.walk = found + 1;
        found
    }

    fn rewind(&mut self, _pos: usize) {}
}

/// Every 64-byte block's structural mask, classified up front in one pass
/// (block `k` at index `k`; the tail block's bits past the body clear), and
/// whether every byte is ASCII (then the body is valid UTF-8 with no
/// further pass; the AVX2 build finds out, the others answer `false`). The
/// classifier runs as a tight loop of independent blocks, and the parser's
/// walk loads a mask where it would otherwise call the classifier.
pub fn classify<'a>(buf: &[u8], kernel: Kernel, arena: &'a Bump) -> (&'a [u64], bool) {
    let masks = arena.alloc_slice_fill_copy(buf.len().div_ceil(64), 0u64);
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx2 {
        // SAFETY: `Kernel::Avx2` is only constructed after detection.
        let ascii = unsafe { classify_avx2(buf, masks) };
        return (masks, ascii);
    }
    let blocks = buf.chunks_exact(64);
    let tail = blocks.remainder();
    for (mask, block) in masks.iter_mut().zip(blocks) {
        *mask = kernel.mask(block.try_into().expect("64 bytes"));
    }
    if !tail.is_empty() {
        masks[buf.len() / 64] = tail_mask(tail, kernel);
    }
    (masks, false)
}

/// The tail block's mask: padded with a non-structural byte, and the bits
/// past the end clear.
fn tail_mask(tail: &[u8], kernel: Kernel) -> u64 {
    let mut block = [0u8; 64];
    block[..tail.len()].copy_from_slice(tail);
    kernel.mask(&block) & ((1u64 << tail.len()) - 1)
}

/// [`classify`] built for AVX2, so that the classifier inlines into the
/// loop; also ORs every byte together for the ASCII answer.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn classify_avx2(buf: &[u8], masks: &mut [u64]) -> bool {
    use std::arch::x86_64::*;
    let blocks = buf.chunks_exact(64);
    let tail = blocks.remainder();
    let mut high = _mm256_setzero_si256();
    for (mask, block) in masks.iter_mut().zip(blocks) {
        // SAFETY: the two loads read exactly the 64 bytes of `block`.
        unsafe {
            let a = _mm256_loadu_si256(block.as_ptr() as *const __m256i);
            let b = _mm256_loadu_si256(block.as_ptr().add(32) as *const __m256i);
            high = _mm256_or_si256(high, _mm256_or_si256(a, b));
            *mask = x86::mask_avx2(block.try_into().expect("64 bytes"));
        }
    }
    let mut ascii = _mm256_movemask_epi8(high) == 0;
    if !tail.is_empty() {
        ascii &= tail.is_ascii();
        masks[buf.len() / 64] = tail_mask(tail, Kernel::Avx2);
    }
    ascii
}

/// Forward cursor over the structural bytes of a body, one block mask at a time.
#[derive(Clone, Copy)]
pub struct Structurals<'a> {
    buf: &'a [u8],
    /// Every block's mask, from [`classify`].
    masks: &'a [u64],
    /// Start of the block whose mask is cached.
    block_start: usize,
    /// The block's structural bytes, less those a walk took.
    mask: u64,
    /// The block and mask as the last `begin` left them, for `rewind`.
    sought: (usize, u64),
}

impl<'a> Structurals<'a> {
    /// A cursor over `buf`, whose block masks `masks` are (from [`classify`]).
    pub fn new(buf: &'a [u8], masks: &'a [u64]) -> Self {
        assert_eq!(masks.len(), buf.len().div_ceil(64));
        let mut cursor = Structurals {
            buf,
            masks,
            block_start: 0,
            mask: 0,
            sought: (0, 0),
        };
        if !buf.is_empty() {
            cursor.reload(0);
        }
        cursor
    }

    /// Moves to the block at `start` (a multiple of 64 inside the body).
    #[inline(always)]
    fn reload(&mut self, start: usize) {
        self.block_start = start;
        debug_assert!(start < self.buf.len());
        // SAFETY: every caller reloads a block that starts inside the body,
        // and `new` checked there is a mask for each.
        self.mask = unsafe { *self.masks.get_unchecked(start / 64) };
    }
}

// SAFETY: `pop` takes set bits of the current block in increasing order
// (clearing each), then moves to later blocks only; tail bits past the body
// are cleared on load; `seek` and `begin` clear the bits before their position.
unsafe impl Cursor for Structurals<'_> {
    #[inline]
    fn next_at_or_after(&mut self, mut pos: usize) -> usize {
        loop {
            let offset = pos.wrapping_sub(self.block_start);
            if offset < 64 {
                let m = self.mask & (!0u64 << offset);
                if m != 0 {
                    return self.block_start + m.trailing_zeros() as usize;
                }
                pos = self.block_start + 64;
            }
            if pos >= self.buf.len() {
                return self.buf.len();
            }
            self.reload(pos & !63);
        }
    }

    #[inline(always)]
    fn begin(&mut self, pos: usize) {
        self.seek(pos);
        self.sought = (self.block_start, self.mask);
    }

    #[inline(always)]
    fn seek(&mut self, pos: usize) {
        let mut offset = pos.wrapping_sub(self.block_start);
        if offset >= 64 {
            if pos >= self.buf.len() {
                // Nothing is left: the walk's next block starts past the end.
                self.block_start = pos & !63;
                self.mask = 0;
                return;
            }
            self.reload(pos & !63);
            offset = pos & 63;
        }
        self.mask &= !0u64 << offset;
    }

    #[inline(always)]
    fn pop(&mut self) -> usize {
        loop {
            if self.mask != 0 {
                let found = self.block_start + self.mask.trailing_zeros() as usize;
                self.mask &= self.mask - 1;
                return found;
            }
            let next = self.block_start + 64;
            if next >= self.buf.len() {
                return self.buf.len();
            }
            self.reload(next);
        }
    }

    /// Only ever back to the last `begin`: its block as it was then.
    #[inline(always)]
    fn rewind(&mut self, pos: usize) {
        debug_assert_eq!(self.sought.0, pos & !63);
        (self.block_start, self.mask) = self.sought;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_says_ascii_only_when_every_byte_is() {
        let arena = Bump::new();
        for len in [0, 1, 63, 64, 65, 200] {
            let body = vec![b'a'; len];
            for at in 0..len {
                let mut high = body.clone();
                high[at] = 0xc3;
                for kernel in Kernel::available() {
                    let (masks, ascii) = classify(&high, kernel, &arena);
                    assert_eq!(masks.len(), len.div_ceil(64));
                    assert!(!ascii, "{kernel:?} len {len} at {at}");
                }
            }
            #[cfg(target_arch = "x86_64")]
            if Kernel::available().contains(&Kernel::Avx2) {
                assert!(classify(&body, Kernel::Avx2, &arena).1, "len {len}");
            }
        }
    }

    /// A deterministic byte soup dense in structurals, so every lane sees them.
    fn soup(len: usize, seed: u64) -> Vec<u8> {
        let alphabet = b"\n ,=\"\\ab\x00\xff\t\r9";
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                alphabet[(x % alphabet.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn every_kernel_matches_the_scalar_oracle_on_every_byte_value() {
        for kernel in Kernel::available() {
            for b in 0..=255u8 {
                for lane in 0..64 {
                    let mut block = [b'a'; 64];
                    block[lane] = b;
                    let expected = if is_structural(b) { 1u64 << lane } else { 0 };
                    assert_eq!(
                        kernel.mask(&block),
                        expected,
                        "{kernel:?} byte {b} lane {lane}"
                    );
                }
            }
        }
    }

    #[test]
    fn cursor_matches_a_scalar_scan_at_every_alignment() {
        // A padded buffer sliced at every offset puts the body at every alignment
        // and every length, including the partial tail block.
        for seed in 1..4 {
            let padded = soup(300, seed);
            for kernel in Kernel::available() {
                for start in 0..64 {
                    for end in [start, start + 1, start + 63, start + 64, start + 65, 300] {
                        let body = &padded[start..end.min(300)];
                        let arena = Bump::new();
                        let (masks, _) = classify(body, kernel, &arena);
                        let mut cursor = Structurals::new(body, masks);
                        let mut by_memchr = MemchrCursor::new(body);
                        for pos in 0..=body.len() {
                            let expected = body[pos..]
                                .iter()
                                .position(|&b| is_structural(b))
                                .map_or(body.len(), |i| pos + i);
                            assert_eq!(cursor.next_at_or_after(pos), expected);
                            assert_eq!(by_memchr.next_at_or_after(pos), expected);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn cursors_answer_queries_in_any_order() {
        // Regression: the memchr cursor once missed a newline after a step back.
        let body = soup(500, 7);
        let mut x = 99u64;
        for kernel in Kernel::available() {
            let arena = Bump::new();
            let (masks, _) = classify(&body, kernel, &arena);
            let mut cursor = Structurals::new(&body, masks);
            let mut by_memchr = MemchrCursor::new(&body);
            for _ in 0..5000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let pos = (x % 501) as usize;
                let expected = body[pos..]
                    .iter()
                    .position(|&b| is_structural(b))
                    .map_or(body.len(), |i| pos + i);
                assert_eq!(
                    cursor.next_at_or_after(pos),
                    expected,
                    "{kernel:?} at {pos}"
                );
                assert_eq!(by_memchr.next_at_or_after(pos), expected, "memchr at {pos}");
            }
        }
    }

    #[test]
    fn walks_take_every_structural_in_order_across_blocks() {
        // Bodies over many blocks, at every length around a block's end,
        // walked with pops and forward seeks, against the scalar scan.
        for (len, seed) in [(0, 1), (1, 2), (63, 3), (64, 4), (65, 5), (3000, 6)] {
            let body = soup(len, seed);
            let oracle = |pos: usize| {
                body[pos.min(len)..]
                    .iter()
                    .position(|&b| is_structural(b))
                    .map_or(len, |i| pos + i)
            };
            for kernel in Kernel::available() {
                let arena = Bump::new();
                let (masks, _) = classify(&body, kernel, &arena);
                let mut cursor = Structurals::new(&body, masks);
                let mut by_memchr = MemchrCursor::new(&body);
                let mut x = seed;
                let mut pos = 0;
                cursor.begin(0);
                by_memchr.begin(0);
                while pos <= len {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x % 5 == 0 {
                        // A forward seek, as after a string value.
                        pos += (x % 200) as usize;
                        cursor.seek(pos);
                        by_memchr.seek(pos);
                    }
                    let expected = oracle(pos);
                    assert_eq!(cursor.pop(), expected, "{kernel:?} len {len} at {pos}");
                    assert_eq!(by_memchr.pop(), expected, "memchr len {len} at {pos}");
                    pos = expected + 1;
                }
                // Past the end, the walk keeps answering the length.
                assert_eq!(cursor.pop(), len);
                // Back to the start, as after a line the walk gave up on.
                cursor.rewind(0);
                assert_eq!(cursor.pop(), oracle(0));
            }
        }
    }

    #[test]
    fn cursor_can_jump_forward_over_blocks() {
        let mut body = vec![b'x'; 1000];
        body[999] = b',';
        for kernel in Kernel::available() {
            let arena = Bump::new();
            let (masks, _) = classify(&body, kernel, &arena);
            let mut cursor = Structurals::new(&body, masks);
            assert_eq!(cursor.next_at_or_after(0), 999);
            assert_eq!(cursor.next_at_or_after(999), 999);
            assert_eq!(cursor.next_at_or_after(1000), 1000);
        }
    }
}
