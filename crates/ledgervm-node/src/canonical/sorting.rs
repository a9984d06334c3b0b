//! A `serde_json` [`Formatter`] that writes RFC 8785 (JCS) output directly for the
//! common case, and says when it could not.
//!
//! `serde_json` already writes JCS strings and integers (see the parent module); what
//! it does not do is sort object members. This formatter remembers where each member
//! of an open object starts and ends in the output, and when the object closes, puts
//! the members in key order in place (usually they already are, and nothing moves).
//! Nested objects close first, so each member is final by then.
//!
//! Sorting raw key bytes equals JCS's UTF-16 order only for ASCII keys without escapes,
//! and JCS writes some numbers differently from `serde_json`. Whenever the output holds
//! such a case (a non-ASCII or escaped key, a duplicate key, a float, an integer beyond
//! 2^53, a raw fragment), the formatter marks the output unusable and the caller takes
//! the reference route instead. So this path never has to be right about the hard
//! cases: it only has to recognise them.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

use super::EXACT_INT;

/// `value` in JCS form with the top-level member `extra` added, or `None` when the
/// output needs the reference canonicalizer.
pub(super) fn serialize<T: Serialize + ?Sized>(
    value: &T,
    extra: Option<(&str, u64)>,
) -> serde_json::Result<Option<Vec<u8>>> {
    let mut st = State {
        out: Vec::with_capacity(512),
        members: Vec::new(),
        frames: Vec::new(),
        depth: 0,
        in_key: false,
        usable: true,
        extra,
        top_object: false,
    };
    value.serialize(&mut serde_json::Serializer::with_formatter(
        io::sink(),
        Sorting(&mut st),
    ))?;
    let ok = st.usable && (extra.is_none() || st.top_object);
    Ok(ok.then_some(st.out))
}

/// One member of an open object: `out[start..end]` is `"key":value`, and the key's
/// closing quote is at `key_end - 1`.
#[derive(Clone, Copy)]
struct Member {
    start: usize,
    key_end: usize,
    end: usize,
}

struct State<'e> {
    out: Vec<u8>,
    /// The members of all open objects, innermost last.
    members: Vec<Member>,
    /// Where each open object's members start in `members`.
    frames: Vec<usize>,
    /// Open arrays and objects.
    depth: usize,
    in_key: bool,
    /// False once the output holds something only the reference writes right.
    usable: bool,
    extra: Option<(&'e str, u64)>,
    /// The top-level value was an object (and got `extra`).
    top_object: bool,
}

impl State<'_> {
    fn key(&self, m: &Member) -> &[u8] {
        &self.out[m.start + 1..m.key_end - 1]
    }

    fn int(&mut self, magnitude: u128, digits: impl itoa::Integer) {
        if magnitude > u128::from(EXACT_INT) {
            self.usable = false;
        }
        self.out
            .extend_from_slice(itoa::Buffer::new().format(digits).as_bytes());
    }

    /// Closes the innermost object: adds `extra` if it is the top one, then sorts.
    fn end_object(&mut self) {
        let frame = self.frames.pop().expect("end_object after begin_object");
        self.depth -= 1;
        if self.depth == 0 {
            self.top_object = true;
            if let Some((name, v)) = self.extra {
                if self.members.len() > frame {
                    self.out.push(b',');
                }
                let start = self.out.len();
                self.out.push(b'"');
                self.out.extend_from_slice(name.as_bytes());
                self.out.push(b'"');
                let key_end = self.out.len();
                self.out.push(b':');
                self.int(u128::from(v), v);
                let end = self.out.len();
                self.members.push(Member {
                    start,
                    key_end,
                    end,
                });
                if !name
                    .bytes()
                    .all(|b| b.is_ascii() && b != b'"' && b != b'\\' && b >= 0x20)
                {
                    self.usable = false;
                }
            }
        }
        let members = &self.members[frame..];
        let mut sorted = true;
        for w in members.windows(2) {
            match self.key(&w[0]).cmp(self.key(&w[1])) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => self.usable = false,
                std::cmp::Ordering::Greater => sorted = false,
            }
        }
        if !sorted && self.usable {
            let mut order: Vec<Member> = members.to_vec();
            order.sort_by(|a, b| self.key(a).cmp(self.key(b)));
            let (from, to) = (members[0].start, members[members.len() - 1].end);
            let mut moved = Vec::with_capacity(to - from);
            for (i, m) in order.iter().enumerate() {
                if i > 0 {
                    moved.push(b',');
                }
                moved.extend_from_slice(&self.out[m.start..m.end]);
            }
            self.out[from..to].copy_from_slice(&moved);
        }
        self.members.truncate(frame);
        self.out.push(b'}');
    }
}

/// The formatter: every method writes to the [`State`]'s buffer (the serializer's own
/// writer is a sink), because sorting needs the output as a `Vec` it can rearrange.
struct Sorting<'s, 'e>(&'s mut State<'e>);

macro_rules! small_ints {
    ($($name:ident: $t:ty),*) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, _: &mut W, value: $t) -> io::Result<()> {
            self.0.int(0, value);
            Ok(())
        }
    )*};
}

impl Formatter for Sorting<'_, '_> {
    fn write_null<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.out.extend_from_slice(b"null");
        Ok(())
    }

    fn write_bool<W: ?Sized + io::Write>(&mut self, _: &mut W, value: bool) -> io::Result<()> {
        let s: &[u8] = if value { b"true" } else { b"false" };
        self.0.out.extend_from_slice(s);
        Ok(())
    }

    small_ints!(write_i8: i8, write_i16: i16, write_i32: i32, write_u8: u8, write_u16: u16, write_u32: u32);

    fn write_i64<W: ?Sized + io::Write>(&mut self, _: &mut W, value: i64) -> io::Result<()> {
        self.0.int(u128::from(value.unsigned_abs()), value);
        Ok(())
    }

    fn write_u64<W: ?Sized + io::Write>(&mut self, _: &mut W, value: u64) -> io::Result<()> {
        self.0.int(u128::from(value), value);
        Ok(())
    }

    fn write_i128<W: ?Sized + io::Write>(&mut self, _: &mut W, value: i128) -> io::Result<()> {
        self.0.int(value.unsigned_abs(), value);
        Ok(())
    }

    fn write_u128<W: ?Sized + io::Write>(&mut self, _: &mut W, value: u128) -> io::Result<()> {
        self.0.int(value, value);
        Ok(())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, _: &mut W, _: f64) -> io::Result<()> {
        // JCS writes the ECMAScript form; the reference route does that.
        self.0.usable = false;
        Ok(())
    }

    fn write_number_str<W: ?Sized + io::Write>(&mut self, _: &mut W, _: &str) -> io::Result<()> {
        self.0.usable = false;
        Ok(())
    }

    fn write_raw_fragment<W: ?Sized + io::Write>(&mut self, _: &mut W, _: &str) -> io::Result<()> {
        self.0.usable = false;
        Ok(())
    }

    fn begin_string<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.out.push(b'"');
        Ok(())
    }

    fn end_string<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.out.push(b'"');
        Ok(())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        _: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if self.0.in_key && !fragment.is_ascii() {
            self.0.usable = false;
        }
        self.0.out.extend_from_slice(fragment.as_bytes());
        Ok(())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        _: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        if self.0.in_key {
            self.0.usable = false;
        }
        // serde_json's own escapes, which are JCS's.
        serde_json::ser::CompactFormatter.write_char_escape(&mut self.0.out, escape)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.depth += 1;
        self.0.out.push(b'[');
        Ok(())
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.depth -= 1;
        self.0.out.push(b']');
        Ok(())
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        _: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if !first {
            self.0.out.push(b',');
        }
        Ok(())
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.frames.push(self.0.members.len());
        self.0.depth += 1;
        self.0.out.push(b'{');
        Ok(())
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.end_object();
        Ok(())
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        _: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if !first {
            self.0.out.push(b',');
        }
        let start = self.0.out.len();
        self.0.members.push(Member {
            start,
            key_end: start,
            end: start,
        });
        self.0.in_key = true;
        Ok(())
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.in_key = false;
        let len = self.0.out.len();
        self.0.members.last_mut().expect("in a member").key_end = len;
        Ok(())
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.0.out.push(b':');
        Ok(())
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        // Nested objects in the value have closed and popped their members, so this
        // object's current member is last again.
        let len = self.0.out.len();
        self.0.members.last_mut().expect("in a member").end = len;
        Ok(())
    }
}
