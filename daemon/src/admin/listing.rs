//! Pages of the registry's lists (issue 18): the console shows a site of thousands of people 200 rows at a
//! time, so only the page asked for crosses the control socket, with the number of matches. The CLI's
//! `person list` / `grant list` still answer the whole list. Open like those lists: nothing here reads a
//! record of anyone's acts.

use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use tobira_core::model::{Grant, Person};
use tobira_proto::{MAX_PAGE, PageQuery};

/// The JSON of a person, as `person list`, `person show` and `person-page` show it.
pub(crate) fn person_json(p: &Person) -> serde_json::Value {
    serde_json::json!({
        "id": p.id.as_str(), "name": p.name, "affiliation": p.affiliation,
        "roles": p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "appointment_end": p.appointment_end, "active": p.active,
    })
}

/// The JSON of a live grant, as `grant list` and `grant-page` show it.
pub(crate) fn grant_json(g: &Grant) -> serde_json::Value {
    serde_json::json!({"id": g.id.as_str(), "holder": g.holder.as_str(),
        "place": crate::admin::requests::place_str(&g.place), "issued_by": g.issued_by.as_str(),
        "issuer_role": g.issuer_role.as_str(), "from": g.valid_from, "until": g.valid_until})
}

/// Rows `offset ..` (at most `limit`, capped at [`MAX_PAGE`]) of `matching`, with the count of them all.
/// `matching` is walked once and only the page's rows are turned into JSON.
fn page<'a, T: 'a>(
    q: &PageQuery,
    matching: impl Iterator<Item = &'a T>,
    json: impl Fn(&T) -> serde_json::Value,
) -> Result<serde_json::Value, Refusal> {
    if q.limit == 0 {
        return Err(Refusal::bad("limit: ask for at least one row"));
    }
    let (offset, limit) = (q.offset as usize, q.limit.min(MAX_PAGE) as usize);
    let mut total = 0usize;
    let mut rows = Vec::with_capacity(limit.min(256));
    for x in matching {
        if total >= offset && rows.len() < limit {
            rows.push(json(x));
        }
        total += 1;
    }
    Ok(serde_json::json!({"total": total, "offset": offset, "rows": rows}))
}

fn query(q: &PageQuery) -> &str {
    q.query.as_deref().map(str::trim).unwrap_or("")
}

/// People sorted by user ID (the registry's order) whose ID, name or section contains the query.
pub fn person_page(d: &Daemon, q: &PageQuery) -> Result<serde_json::Value, Refusal> {
    let reg = d.registry();
    let s = query(q);
    let hit = |p: &&tobira_core::model::Person| {
        s.is_empty() || p.id.as_str().contains(s) || p.name.contains(s) || p.affiliation.contains(s)
    };
    page(q, reg.people.values().filter(hit), person_json)
}

/// Live grants sorted by holder, then ID, whose ID, holder or place contains the query.
pub fn grant_page(d: &Daemon, q: &PageQuery) -> Result<serde_json::Value, Refusal> {
    let reg = d.registry();
    let s = query(q);
    let mut hits: Vec<&Grant> = reg
        .grants
        .iter()
        .filter(|g| {
            s.is_empty()
                || g.id.as_str().contains(s)
                || g.holder.as_str().contains(s)
                || crate::admin::requests::place_str(&g.place).contains(s)
        })
        .collect();
    hits.sort_by(|a, b| (a.holder.as_str(), a.id.as_str()).cmp(&(b.holder.as_str(), b.id.as_str())));
    page(q, hits.into_iter(), grant_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(offset: u32, limit: u32) -> PageQuery {
        PageQuery { query: None, offset, limit }
    }

    fn rows(q: &PageQuery, all: &[u32]) -> serde_json::Value {
        page(q, all.iter(), |x| serde_json::json!(x)).unwrap_or_else(|r| panic!("{}", r.message))
    }

    #[test]
    fn a_page_is_its_rows_and_the_count_of_every_match() {
        let all: Vec<u32> = (0..5).collect();
        let json = |x: &u32| serde_json::json!(x);
        let v = rows(&ask(2, 2), &all);
        assert_eq!(v, serde_json::json!({"total": 5, "offset": 2, "rows": [2, 3]}));
        let v = rows(&ask(4, 10), &all);
        assert_eq!((v["total"].as_u64(), v["rows"].as_array().unwrap().len()), (Some(5), 1), "the last page");
        let v = rows(&ask(9, 10), &all);
        assert_eq!(v["rows"], serde_json::json!([]), "past the end: no rows, still the count");
        assert!(page(&ask(0, 0), all.iter(), json).is_err(), "no rows asked");
        let many: Vec<u32> = (0..3000).collect();
        let v = rows(&ask(0, u32::MAX), &many);
        assert_eq!(v["rows"].as_array().unwrap().len(), MAX_PAGE as usize, "capped");
    }
}
