//! The stored part of a record that came through `/es`: its document as sent, minus the
//! values a column already holds, and putting the document back together on read.
//!
//! A shipper's document repeats what the record's columns hold (the host, the container
//! name and its 64-character id, the image, the stream, the time, and the payload's
//! string values under `fields`). Kept whole, the docstore stores and compresses each of
//! those again. So each top-level value whose JSON text is exactly what a column gives
//! back is replaced by a `0` (the rest stays valid JSON), and the cut entries are noted
//! by their position among the top-level entries and a letter for the column:
//!
//! `{"o":{"time":0,"host":0,"log":"x","svc":0},"i":"logs","c":"0t1h3f"}`
//!
//! Documents from one shipper share their keys and so their cut notes, which the
//! docstore's compression then stores almost for free. On read each `0` is replaced by
//! its column's value written as a JSON string, which gives the document back byte for
//! byte: a value is only cut when its text is a string without escapes whose content
//! equals the column's value, and such a string is written back exactly as it was.

use skein_model::es_mapping::Part;
use skein_model::Original;

/// The letter a cut of `part` is noted by.
fn letter_of(part: Part) -> char {
    match part {
        Part::Host => 'h',
        Part::Container => 'c',
        Part::ContainerId => 'i',
        Part::Image => 'm',
        Part::Stream => 's',
        Part::Level => 'l',
        Part::Timestamp => 't',
        Part::Field => 'f',
    }
}

/// The record part a noted letter names ([`letter_of`]).
fn part_of(letter: char) -> Option<Part> {
    Some(match letter {
        'h' => Part::Host,
        'c' => Part::Container,
        'i' => Part::ContainerId,
        'm' => Part::Image,
        's' => Part::Stream,
        'l' => Part::Level,
        't' => Part::Timestamp,
        'f' => Part::Field,
        _ => return None,
    })
}

/// [`write_stored`] into a new string.
#[cfg(test)]
pub(crate) fn stored_text(original: &Original, index: &str, id: Option<&str>) -> String {
    let mut out = String::new();
    write_stored(&mut out, original, index, id);
    out
}

/// Writes the stored text of an `/es` record into `out`, which is cleared first (the
/// indexer reuses one buffer): `original` with the values its cuts mark cut out, its
/// index and id, and the cut notes. The mapping found the cuts
/// ([`skein_model::es_mapping::Cut`]); a `fields` string is only cut when its column
/// keeps it whole.
pub(crate) fn write_stored(out: &mut String, original: &Original, index: &str, id: Option<&str>) {
    let text = original.get();
    out.clear();
    out.reserve(text.len() + index.len() + 64);
    out.push_str("{\"o\":");
    // (entry, letter) of each cut made; a document has a few dozen top-level values at
    // most, and past this many the rest simply stay in the text.
    let mut made = [(0u32, Part::Host); 64];
    let mut count = 0;
    let mut copied = 0;
    for cut in original.cuts() {
        let (start, end) = (cut.span.start as usize, cut.span.end as usize);
        if cut.part == Part::Field && end - start > crate::schema::MAX_COLUMN_STRING + 2 {
            continue;
        }
        if start < copied || text.get(start..end).is_none() {
            // Not cuts of this text: keep it whole.
            count = 0;
            out.truncate("{\"o\":".len());
            copied = 0;
            break;
        }
        if count == made.len() {
            break;
        }
        out.push_str(&text[copied..start]);
        out.push('0');
        copied = end;
        made[count] = (cut.entry, cut.part);
        count += 1;
    }
    out.push_str(&text[copied..]);
    out.push_str(",\"i\":");
    push_json_str(out, index);
    if let Some(id) = id {
        out.push_str(",\"d\":");
        push_json_str(out, id);
    }
    if count > 0 {
        out.push_str(",\"c\":\"");
        for &(entry, part) in &made[..count] {
            push_decimal(out, entry);
            out.push(letter_of(part));
        }
        out.push('"');
    }
    out.push('}');
}

/// Writes `s` as a JSON string; most index names and ids need no escaping, and are
/// copied as they are.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(&serde_json::to_string(s).expect("a string serialises"));
    } else {
        out.push('"');
        out.push_str(s);
        out.push('"');
    }
}

fn push_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// Puts a document back together from its stored template and cut notes, with `value`
/// giving, for each cut, the record part's value (for [`Part::Field`], the value of
/// `fields.<key>`; the key is the cut entry's own).
pub(crate) fn rebuild(
    template: &str,
    notes: &str,
    mut value: impl FnMut(Part, &str) -> Option<String>,
) -> Result<String, String> {
    let entries = skein_model::es_mapping::top_level_entries(template)
        .map_err(|e| format!("the template is not an object: {e}"))?;
    let base = template.as_ptr() as usize;
    let mut out = String::with_capacity(template.len() + notes.len() * 16);
    let mut copied = 0;
    let mut rest = notes;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let letter = rest[digits..].chars().next();
        let (Ok(n), Some(letter)) = (rest[..digits].parse::<usize>(), letter) else {
            return Err(format!("bad cut notes [{notes}]"));
        };
        rest = &rest[digits + letter.len_utf8()..];
        let (key, raw) = entries
            .get(n)
            .ok_or_else(|| format!("cut entry {n} is past the document's end"))?;
        let part = part_of(letter).ok_or_else(|| format!("cut [{n}{letter}] names no column"))?;
        let at = raw.as_ptr() as usize - base;
        if *raw != "0" || at < copied {
            return Err(format!("entry {n} is not a cut value"));
        }
        let v = value(part, key).ok_or_else(|| format!("no value for cut [{n}{letter}]"))?;
        out.push_str(&template[copied..at]);
        push_json_str(&mut out, &v);
        copied = at + 1;
    }
    out.push_str(&template[copied..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;
    use skein_model::es_mapping::map_document;
    use skein_model::Timestamp;

    #[derive(serde::Deserialize)]
    struct Stored {
        o: Box<RawValue>,
        #[serde(default)]
        c: String,
    }

    /// Stores `doc` as `/es/_bulk` maps it, then rebuilds it from the record's values.
    fn roundtrip(doc: &str) -> (String, String) {
        let r = map_document(doc, "logs", None, Timestamp(0)).unwrap();
        let text = stored_text(r.original.as_ref().unwrap(), "logs", None);
        let stored: Stored = serde_json::from_str(&text).unwrap();
        let level = r.level.map(|l| l.as_str().to_string());
        let rebuilt = rebuild(stored.o.get(), &stored.c, |c, k| {
            Some(match c {
                Part::Host => r.host.clone(),
                Part::Container => r.container.clone(),
                Part::ContainerId => r.container_id.clone(),
                Part::Image => r.image.clone(),
                Part::Stream => r.stream.clone(),
                Part::Level => level.clone()?,
                Part::Timestamp => r.timestamp.to_rfc3339(),
                Part::Field => r.fields.get(k)?.as_str()?.to_string(),
            })
        })
        .unwrap();
        (text, rebuilt)
    }

    #[test]
    fn column_values_are_cut_and_put_back_byte_for_byte() {
        let doc = r#"{"timestamp":"2026-11-20T10:00:00.030317221Z","message":"GET /x","host":"node-1","container_name":"api-1","container_id":"3f2a","image":"shop/api:1","label":{"app":"api"},"stream":"stdout","level":"info","trace":"ab12","n":5,"a.b":"dotted"}"#;
        let (text, rebuilt) = roundtrip(doc);
        assert_eq!(rebuilt, doc);
        for cut in [
            "node-1",
            "api-1",
            "3f2a",
            "shop/api:1",
            "stdout",
            "ab12",
            "10:00:00",
        ] {
            assert!(!text.contains(cut), "{cut} is cut from {text}");
        }
        for kept in ["GET /x", "\"app\":\"api\"", "dotted", "\"n\":5"] {
            assert!(text.contains(kept), "{kept} is kept in {text}");
        }
    }

    #[test]
    fn only_exact_texts_are_cut() {
        for doc in [
            // Escapes, a time in another form, a level in capitals, nested metadata,
            // spaces, a leading slash and a repeated key: all come back as sent.
            r#"{ "host" : "no\u0064e", "time": "2026-11-20T10:00:00Z", "level": "INFO", "msg": "m" }"#,
            r#"{"kubernetes":{"host":"n","container_name":"c"},"log":"l\n","stream":"stderr"}"#,
            r#"{"container_name":"/web","log":"x","log2":"web","host":"h","host":"h"}"#,
            r#"{"message":"node-1","host":"node-1","n":"node-1"}"#,
        ] {
            let (_, rebuilt) = roundtrip(doc);
            assert_eq!(rebuilt, doc);
        }
    }

    #[test]
    fn a_bad_cut_is_an_error_not_a_wrong_document() {
        let ok = |t: &str, notes: &str| rebuild(t, notes, |_, _| Some("x".into()));
        assert_eq!(ok(r#"{"a":1,"b":0}"#, "1h").unwrap(), r#"{"a":1,"b":"x"}"#);
        assert_eq!(ok(r#"{"a":1,"b":0}"#, "1f").unwrap(), r#"{"a":1,"b":"x"}"#);
        for (t, notes) in [
            (r#"{"a":1,"b":0}"#, "0h"),
            (r#"{"a":1,"b":0}"#, "2h"),
            (r#"{"a":1,"b":0}"#, "1z"),
            (r#"{"a":1,"b":0}"#, "h"),
            (r#"{"a":1,"b":0}"#, "1"),
            ("[0]", "0h"),
        ] {
            assert!(ok(t, notes).is_err(), "{t} {notes}");
        }
        assert!(rebuild(r#"{"b":0}"#, "0h", |_, _| None).is_err());
    }
}
