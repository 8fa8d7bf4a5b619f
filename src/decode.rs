//! Request bodies by `Content-Encoding`: `identity` as is, `gzip` through
//! libdeflate.
//!
//! libdeflate decompresses a whole member into a caller-sized buffer, so the
//! output grows by doubling, never past the body limit: a gzip bomb ends as a
//! "too large" error after at most `limit` bytes of work, not as an OOM.
//! Bodies may hold several gzip members back to back (RFC 1952); each is
//! decompressed in turn.

use std::ffi::c_void;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    /// Parses a `Content-Encoding` value; `None` for one we do not speak.
    pub fn from_header(value: Option<&str>) -> Option<Encoding> {
        match value.map(str::trim) {
            None | Some("") => Some(Encoding::Identity),
            Some(v) if v.eq_ignore_ascii_case("identity") => Some(Encoding::Identity),
            Some(v) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => {
                Some(Encoding::Gzip)
            }
            Some(_) => None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The decompressed body would exceed `limit` bytes.
    TooLarge { limit: usize },
    /// Not valid gzip (bad header, corrupt stream, wrong checksum, truncated).
    Corrupt,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLarge { limit } => {
                write!(
                    f,
                    "request body too large: decompressed size exceeds {limit} bytes"
                )
            }
            DecodeError::Corrupt => f.write_str("invalid gzip data in request body"),
        }
    }
}

/// A reusable gzip decompressor (one per connection).
pub struct Gunzip {
    raw: *mut libdeflate_decompressor,
}

impl Default for Gunzip {
    fn default() -> Self {
        // SAFETY: allocating a decompressor has no preconditions; null means OOM.
        let raw = unsafe { libdeflate_alloc_decompressor() };
        assert!(
            !raw.is_null(),
            "libdeflate could not allocate a decompressor"
        );
        Gunzip { raw }
    }
}

impl Drop for Gunzip {
    fn drop(&mut self) {
        // SAFETY: `raw` came from libdeflate_alloc_decompressor and is freed once.
        unsafe { libdeflate_free_decompressor(self.raw) }
    }
}

impl Gunzip {
    /// Decompresses every gzip member of `input` into `out` (cleared first),
    /// failing once the output would pass `limit` bytes.
    pub fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), DecodeError> {
        out.clear();
        let mut offset = 0;
        if input.is_empty() {
            return Err(DecodeError::Corrupt);
        }
        while offset < input.len() {
            let member = &input[offset..];
            // The trailer's ISIZE is exact for a single member: a good first guess.
            let hint = if member.len() >= 18 {
                let isize = &input[input.len() - 4..];
                u32::from_le_bytes(isize.try_into().expect("4 bytes")) as usize
            } else {
                0
            };
            let mut room = hint
                .max(member.len() * 4)
                .max(64 * 1024)
                .min(limit.saturating_add(1));
            loop {
                let start = out.len();
                out.reserve_exact(room);
                out.resize(start + room, 0);
                let (mut used_in, mut used_out) = (0usize, 0usize);
                // SAFETY: the pointers and lengths describe `member` and the
                // freshly resized tail of `out`, both live for the call;
                // libdeflate writes at most `room` bytes and reports how many.
                let result = unsafe {
                    libdeflate_gzip_decompress_ex(
                        self.raw,
                        member.as_ptr() as *const c_void,
                        member.len(),
                        out.as_mut_ptr().add(start) as *mut c_void,
                        room,
                        &mut used_in,
                        &mut used_out,
                    )
                };
                if result == libdeflate_result_LIBDEFLATE_SUCCESS {
                    out.truncate(start + used_out);
                    if out.len() > limit {
                        return Err(DecodeError::TooLarge { limit });
                    }
                    offset += used_in;
                    break;
                }
                out.truncate(start);
                if result != libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE {
                    return Err(DecodeError::Corrupt);
                }
                if start + room > limit {
                    return Err(DecodeError::TooLarge { limit });
                }
                room = (room * 2).min(limit + 1 - start);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libdeflater::{CompressionLvl, Compressor};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut c = Compressor::new(CompressionLvl::default());
        let mut out = vec![0; c.gzip_compress_bound(data.len())];
        let n = c.gzip_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn encodings() {
        assert_eq!(Encoding::from_header(None), Some(Encoding::Identity));
        assert_eq!(Encoding::from_header(Some("GZIP")), Some(Encoding::Gzip));
        assert_eq!(
            Encoding::from_header(Some("identity")),
            Some(Encoding::Identity)
        );
        assert_eq!(Encoding::from_header(Some("br")), None);
    }

    #[test]
    fn single_and_multi_member() {
        let mut g = Gunzip::default();
        let mut out = Vec::new();
        let a = b"cpu v=1 1\n".repeat(1000);
        g.decompress(&gzip(&a), &mut out, 1 << 20).unwrap();
        assert_eq!(out, a);
        let mut two = gzip(b"a v=1 1\n");
        two.extend(gzip(b"b v=2 2\n"));
        g.decompress(&two, &mut out, 1 << 20).unwrap();
        assert_eq!(out, b"a v=1 1\nb v=2 2\n");
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let mut g = Gunzip::default();
        let mut out = Vec::new();
        let bomb = gzip(&vec![b'a'; 50 << 20]);
        assert!(bomb.len() < 100_000);
        assert_eq!(
            g.decompress(&bomb, &mut out, 1 << 20),
            Err(DecodeError::TooLarge { limit: 1 << 20 })
        );
        assert!(out.capacity() <= (1 << 20) + 1 + (64 << 10));
    }

    #[test]
    fn a_lying_size_trailer_still_decodes() {
        let mut g = Gunzip::default();
        let mut out = Vec::new();
        let data = b"x".repeat(300_000);
        let mut z = gzip(&data);
        let n = z.len();
        z[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        // libdeflate checks ISIZE, so a lying trailer is corrupt, not a crash.
        assert_eq!(
            g.decompress(&z, &mut out, 1 << 20),
            Err(DecodeError::Corrupt)
        );
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let mut g = Gunzip::default();
        let mut out = Vec::new();
        assert_eq!(
            g.decompress(b"not gzip", &mut out, 1024),
            Err(DecodeError::Corrupt)
        );
        assert_eq!(g.decompress(b"", &mut out, 1024), Err(DecodeError::Corrupt));
        let mut z = gzip(b"cpu v=1 1\n");
        z.truncate(z.len() - 3);
        assert_eq!(g.decompress(&z, &mut out, 1024), Err(DecodeError::Corrupt));
        let mut z = gzip(b"cpu v=1 1\n");
        let mid = z.len() / 2;
        z[mid] ^= 0xff;
        assert_eq!(g.decompress(&z, &mut out, 1024), Err(DecodeError::Corrupt));
    }
}
