//! The sorted-set score elements we write are the ones real servers store.
//!
//! Every listpack / ziplist score in the real-server dumps of `testdata/servers` (Redis 2.4 →
//! 8.0, Valkey 8.0 and a development build) must equal [`ScoreStyle::element`] of its value for
//! that server's style: `%.17g` text through a ziplist up to Redis 6.2, `%.17g` text with
//! `double2ll` integers in 7.0, shortest text from 7.2 on and in Valkey. The writer picks the
//! style by target line ([`Target::score_style`]).

use rdb_format::double::{ScoreElement, ScoreStyle};
use rdb_format::Element;
use rdb_reader::{Event, Limits, Parser, SliceSource};
use rdb_testkit::testdata::server_dumps;
use rdb_writer::Target;

/// The style of the server that wrote `testdata/servers/<server>/...` (`redis-7.0.15`,
/// `valkey-8.0.1`, ...).
fn style_of(server: &str) -> ScoreStyle {
    if server.starts_with("valkey-") {
        return ScoreStyle::Fpconv;
    }
    let version = server
        .strip_prefix("redis-")
        .expect("redis-X.Y or valkey-X.Y");
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major_minor = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if major_minor < (7, 0) {
        ScoreStyle::Ziplist17g
    } else if major_minor == (7, 0) {
        ScoreStyle::Listpack17g
    } else {
        ScoreStyle::Fpconv
    }
}

fn same(stored: &Element<'_>, ours: ScoreElement) -> bool {
    match (stored, ours) {
        (Element::Int(a), ScoreElement::Int(b)) => *a == b,
        (Element::Str(a), ScoreElement::Text(t)) => *a == t.as_bytes(),
        _ => false,
    }
}

#[test]
fn stored_scores_match_each_servers_style() {
    let mut checked = 0usize;
    let mut texts = 0usize;
    for path in server_dumps() {
        let server = path
            .iter()
            .rev()
            .nth(2)
            .and_then(|s| s.to_str())
            .expect("servers/<server>/<variant>/dump.rdb")
            .to_owned();
        let style = style_of(&server);
        let data = std::fs::read(&path).expect("read testdata");
        let mut p = Parser::new(SliceSource::new(&data), Limits::default());
        while let Some(ev) = p.next_event().expect("testdata reads") {
            if let Event::ZSetMember {
                score,
                score_text: Some(stored),
                ..
            } = &ev
            {
                let ours = style.element(*score);
                assert!(
                    same(stored, ours),
                    "{}: score {score:e} stored as {stored:?}, {style:?} gives {ours:?}",
                    path.display()
                );
                checked += 1;
                texts += usize::from(matches!(stored, Element::Str(_)));
            }
        }
    }
    eprintln!("{checked} stored scores checked, {texts} of them text");
    // Enough of both forms to mean something (the dumps hold a few hundred compact zsets).
    assert!(
        checked > 1000 && texts > 100,
        "{checked} scores, {texts} texts"
    );
}

#[test]
fn targets_use_their_lines_style() {
    assert_eq!(Target::Redis60.score_style(), ScoreStyle::Ziplist17g);
    assert_eq!(Target::Redis62.score_style(), ScoreStyle::Ziplist17g);
    assert_eq!(Target::Redis70.score_style(), ScoreStyle::Listpack17g);
    for t in Target::ALL.into_iter().filter(|t| t.rdb_version() > 10) {
        assert_eq!(t.score_style(), ScoreStyle::Fpconv, "{t}");
    }
    assert_eq!(style_of("redis-6.2.14"), ScoreStyle::Ziplist17g);
    assert_eq!(style_of("redis-7.0.15"), ScoreStyle::Listpack17g);
    assert_eq!(style_of("redis-8.0-m01"), ScoreStyle::Fpconv);
}
