//! Integers as decimal text: how a bare integer is stored without a
//! `hash_key` (so that `incr` counts on it), and how such text reads back
//! as any integer type, an `Option` of one, or a newtype over one.
//!
//! Both sides are small serde (de)serializers written here: the integer
//! has to be found before any format writes it (MessagePack writes `i128`
//! as 16 bytes of binary, which a byte string of 16 looks like too), and
//! serde's own `I64Deserializer` answers `Option` and newtype requests with
//! a bare integer, which their visitors refuse.

use std::fmt;

use serde::de::value::Error as DeError;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::{self, Impossible, Serialize};

use super::Rejected;

/// Writes `value` to `out` as decimal text if it is one integer of any
/// width, possibly inside `Some` or newtype structs; whether it was. `out`
/// is left as it was when it was not.
pub(super) fn write_text<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> bool {
    value.serialize(Probe(out)).is_ok()
}

/// The value that the decimal text `bytes` reads as.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejected> {
    let text = std::str::from_utf8(bytes).map_err(|_| Rejected::Corrupt)?;
    // `i64` first: the width of every counter, and the cheapest parse.
    let n = if let Ok(n) = text.parse::<i64>() {
        Int::I64(n)
    } else if let Ok(n) = text.parse::<u64>() {
        Int::U64(n)
    } else if let Ok(n) = text.parse::<i128>() {
        Int::I128(n)
    } else if let Ok(n) = text.parse::<u128>() {
        Int::U128(n)
    } else {
        return Err(Rejected::Corrupt);
    };
    T::deserialize(n).map_err(|_| Rejected::Type)
}

/// The serializer behind [`write_text`]: accepts one integer, refuses
/// anything else before writing.
struct Probe<'a>(&'a mut Vec<u8>);

/// What [`Probe`] answers for a value that is not one integer.
#[derive(Debug)]
struct NotAnInteger;

impl fmt::Display for NotAnInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an integer")
    }
}

impl std::error::Error for NotAnInteger {}

impl ser::Error for NotAnInteger {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Self
    }
}

impl Probe<'_> {
    fn write(self, n: impl itoa::Integer) -> Result<(), NotAnInteger> {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        Ok(())
    }
}

/// `serialize_*` methods that refuse their argument.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*);)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<(), NotAnInteger> {
            Err(NotAnInteger)
        }
    )*};
}

impl ser::Serializer for Probe<'_> {
    type Ok = ();
    type Error = NotAnInteger;
    type SerializeSeq = Impossible<(), NotAnInteger>;
    type SerializeTuple = Impossible<(), NotAnInteger>;
    type SerializeTupleStruct = Impossible<(), NotAnInteger>;
    type SerializeTupleVariant = Impossible<(), NotAnInteger>;
    type SerializeMap = Impossible<(), NotAnInteger>;
    type SerializeStruct = Impossible<(), NotAnInteger>;
    type SerializeStructVariant = Impossible<(), NotAnInteger>;

    fn serialize_i8(self, n: i8) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_i16(self, n: i16) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_i32(self, n: i32) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_i64(self, n: i64) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_i128(self, n: i128) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_u8(self, n: u8) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_u16(self, n: u16) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_u32(self, n: u32) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_u64(self, n: u64) -> Result<(), NotAnInteger> {
        self.write(n)
    }
    fn serialize_u128(self, n: u128) -> Result<(), NotAnInteger> {
        self.write(n)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NotAnInteger> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotAnInteger> {
        value.serialize(self)
    }

    refuse! {
        serialize_bool(bool);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotAnInteger> {
        Err(NotAnInteger)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotAnInteger> {
        Err(NotAnInteger)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotAnInteger> {
        Err(NotAnInteger)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotAnInteger> {
        Err(NotAnInteger)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotAnInteger> {
        Err(NotAnInteger)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotAnInteger> {
        Err(NotAnInteger)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotAnInteger> {
        Err(NotAnInteger)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotAnInteger> {
        Err(NotAnInteger)
    }
}

/// A stored integer, as the narrowest of the types that serde visits.
#[derive(Clone, Copy)]
enum Int {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
}

impl<'de> de::Deserializer<'de> for Int {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Self::I64(n) => visitor.visit_i64(n),
            Self::U64(n) => visitor.visit_u64(n),
            Self::I128(n) => visitor.visit_i128(n),
            Self::U128(n) => visitor.visit_u128(n),
        }
    }

    /// `Some`: `None` is stored as MessagePack, never as text.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Id(u32);

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapped(Option<Id>);

    fn text<T: Serialize>(value: &T) -> Option<String> {
        let mut out = Vec::new();
        write_text(value, &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn integers_of_every_width_and_wrapping_are_text() {
        assert_eq!(text(&-5i8).as_deref(), Some("-5"));
        assert_eq!(text(&u128::MAX), Some(u128::MAX.to_string()));
        assert_eq!(text(&i128::MIN), Some(i128::MIN.to_string()));
        assert_eq!(text(&Some(7usize)).as_deref(), Some("7"));
        assert_eq!(text(&Wrapped(Some(Id(9)))).as_deref(), Some("9"));
        for other in [text(&"12"), text(&1.0), text(&None::<u8>), text(&[1u8])] {
            assert_eq!(other, None);
        }
    }

    #[test]
    fn text_reads_back_as_what_holds_it() {
        assert_eq!(decode::<Option<u32>>(b"5"), Ok(Some(5)));
        assert_eq!(decode::<Id>(b"5"), Ok(Id(5)));
        assert_eq!(decode::<Wrapped>(b"5"), Ok(Wrapped(Some(Id(5)))));
        assert_eq!(decode::<i128>(b"-5"), Ok(-5));
        assert_eq!(
            decode::<u128>(u128::MAX.to_string().as_bytes()),
            Ok(u128::MAX)
        );
        assert_eq!(decode::<i8>(b"-129"), Err(Rejected::Type));
        assert_eq!(decode::<Option<u8>>(b"-1"), Err(Rejected::Type));
        assert_eq!(decode::<String>(b"5"), Err(Rejected::Type));
        assert_eq!(decode::<u8>(b"5x"), Err(Rejected::Corrupt));
    }
}
