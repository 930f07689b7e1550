//! Reading and writing the registry's rows as the core's model types.

use super::{RegistryStore, StoreError, parse_ts, ts};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use tobira_core::ids::*;
use tobira_core::model::{Grant, OffHoursApproval, Person, Place, Registry, Role, Schedule, VendorVisit};
use tobira_core::site::Site;

/// A stored template, still sealed.
pub struct TemplateRow {
    pub id: String,
    pub person: PersonId,
    pub match_id: MatchId,
    pub modality: String,
    pub position: i64,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

fn json_list(field: &'static str, s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|_| StoreError::Malformed { field, value: s.to_string() })
}

fn to_json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl RegistryStore {
    pub async fn add_person(&self, p: &Person, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO people(id, match_id, name, affiliation, appointment_end, active, created_at) VALUES (?,?,?,?,?,?,?)")
            .bind(p.id.as_str())
            .bind(p.match_id.as_str())
            .bind(&p.name)
            .bind(&p.affiliation)
            .bind(p.appointment_end.map(|d| d.to_string()))
            .bind(p.active)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| Self::conflict_or(e, format!("person {}", p.id)))?;
        for r in &p.roles {
            sqlx::query("INSERT INTO person_roles(person_id, role) VALUES (?, ?)")
                .bind(p.id.as_str())
                .bind(r.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn people(&self) -> Result<Vec<Person>, StoreError> {
        let rows =
            sqlx::query("SELECT id, match_id, name, affiliation, appointment_end, active FROM people ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        let roles = sqlx::query("SELECT person_id, role FROM person_roles ORDER BY person_id, role")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.get(0);
            let end: Option<String> = r.get(4);
            let appointment_end = match end {
                Some(s) => Some(
                    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map_err(|_| StoreError::Malformed { field: "people.appointment_end", value: s })?,
                ),
                None => None,
            };
            let mut my_roles = Vec::new();
            for rr in roles.iter().filter(|rr| rr.get::<String, _>(0) == id) {
                let s: String = rr.get(1);
                my_roles.push(
                    s.parse::<Role>()
                        .map_err(|_| StoreError::Malformed { field: "person_roles.role", value: s.clone() })?,
                );
            }
            out.push(Person {
                id: PersonId::new(id),
                match_id: MatchId::new(r.get::<String, _>(1)),
                name: r.get(2),
                affiliation: r.get(3),
                roles: my_roles,
                appointment_end,
                active: r.get(5),
            });
        }
        Ok(out)
    }

    pub async fn add_grant(&self, g: &Grant, now: DateTime<Utc>) -> Result<(), StoreError> {
        let (kind, place) = match &g.place {
            Place::Zone(z) => ("zone", z.as_str().to_string()),
            Place::Terminal(t) => ("terminal", t.as_str().to_string()),
        };
        sqlx::query("INSERT INTO grants(id, holder, place_kind, place_id, issued_by, issuer_role, valid_from, valid_until, schedule, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)")
            .bind(g.id.as_str())
            .bind(g.holder.as_str())
            .bind(kind)
            .bind(&place)
            .bind(g.issued_by.as_str())
            .bind(g.issuer_role.as_str())
            .bind(ts(g.valid_from))
            .bind(ts(g.valid_until))
            .bind(match g.schedule { Schedule::Always => "always", Schedule::OfficeHours => "office-hours" })
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(|e| Self::conflict_or(e, format!("a live grant for {} at {kind}:{place}", g.holder)))?;
        Ok(())
    }

    /// Revokes a live grant; returns it as it was.
    pub async fn revoke_grant(&self, id: &str, by: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(ts(now))
            .bind(by)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound { what: format!("live grant {id}") });
        }
        Ok(())
    }

    pub async fn grants(&self) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query("SELECT id, holder, place_kind, place_id, issued_by, issuer_role, valid_from, valid_until, schedule FROM grants WHERE revoked_at IS NULL ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let kind: String = r.get(2);
                let place_id: String = r.get(3);
                let place = match kind.as_str() {
                    "zone" => Place::Zone(ZoneId::new(place_id)),
                    _ => Place::Terminal(TerminalId::new(place_id)),
                };
                let role: String = r.get(5);
                let schedule: String = r.get(8);
                Ok(Grant {
                    id: GrantId::new(r.get::<String, _>(0)),
                    holder: PersonId::new(r.get::<String, _>(1)),
                    place,
                    issued_by: PersonId::new(r.get::<String, _>(4)),
                    issuer_role: role
                        .parse()
                        .map_err(|_| StoreError::Malformed { field: "grants.issuer_role", value: role.clone() })?,
                    valid_from: parse_ts("grants.valid_from", &r.get::<String, _>(6))?,
                    valid_until: parse_ts("grants.valid_until", &r.get::<String, _>(7))?,
                    schedule: if schedule == "office-hours" { Schedule::OfficeHours } else { Schedule::Always },
                })
            })
            .collect()
    }

    pub async fn add_off_hours(&self, a: &OffHoursApproval, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO off_hours(id, person_id, terminal_id, valid_from, valid_until, reason, approved_by, created_at) VALUES (?,?,?,?,?,?,?,?)")
            .bind(a.id.as_str())
            .bind(a.person.as_str())
            .bind(a.terminal.as_str())
            .bind(ts(a.from))
            .bind(ts(a.until))
            .bind(&a.reason)
            .bind(a.approved_by.as_str())
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(|e| Self::conflict_or(e, format!("off-hours approval {}", a.id)))?;
        Ok(())
    }

    pub async fn off_hours(&self) -> Result<Vec<OffHoursApproval>, StoreError> {
        let rows = sqlx::query("SELECT id, person_id, terminal_id, valid_from, valid_until, reason, approved_by FROM off_hours ORDER BY valid_from")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(OffHoursApproval {
                    id: ApprovalId::new(r.get::<String, _>(0)),
                    person: PersonId::new(r.get::<String, _>(1)),
                    terminal: TerminalId::new(r.get::<String, _>(2)),
                    from: parse_ts("off_hours.valid_from", &r.get::<String, _>(3))?,
                    until: parse_ts("off_hours.valid_until", &r.get::<String, _>(4))?,
                    reason: r.get(5),
                    approved_by: PersonId::new(r.get::<String, _>(6)),
                })
            })
            .collect()
    }

    pub async fn add_visit(&self, v: &VendorVisit, now: DateTime<Utc>) -> Result<(), StoreError> {
        let doors: Vec<String> = v.doors.iter().map(|d| d.as_str().to_string()).collect();
        let escorts: Vec<String> = v.escorts.iter().map(|d| d.as_str().to_string()).collect();
        sqlx::query("INSERT INTO visits(id, vendor_id, company, purpose, name_tag, doors, valid_from, valid_until, escorts, approved_by, media_allowed, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
            .bind(v.id.as_str())
            .bind(v.vendor.as_str())
            .bind(&v.company)
            .bind(&v.purpose)
            .bind(&v.name_tag)
            .bind(to_json(&doors))
            .bind(ts(v.from))
            .bind(ts(v.until))
            .bind(to_json(&escorts))
            .bind(v.approved_by.as_str())
            .bind(to_json(&v.media_allowed))
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(|e| Self::conflict_or(e, format!("visit {}", v.id)))?;
        Ok(())
    }

    pub async fn visits(&self) -> Result<Vec<VendorVisit>, StoreError> {
        let rows = sqlx::query("SELECT id, vendor_id, company, purpose, name_tag, doors, valid_from, valid_until, escorts, approved_by, media_allowed FROM visits ORDER BY valid_from")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(VendorVisit {
                    id: VisitId::new(r.get::<String, _>(0)),
                    vendor: PersonId::new(r.get::<String, _>(1)),
                    company: r.get(2),
                    purpose: r.get(3),
                    name_tag: r.get(4),
                    doors: json_list("visits.doors", &r.get::<String, _>(5))?.into_iter().map(DoorId::new).collect(),
                    from: parse_ts("visits.valid_from", &r.get::<String, _>(6))?,
                    until: parse_ts("visits.valid_until", &r.get::<String, _>(7))?,
                    escorts: json_list("visits.escorts", &r.get::<String, _>(8))?
                        .into_iter()
                        .map(PersonId::new)
                        .collect(),
                    approved_by: PersonId::new(r.get::<String, _>(9)),
                    media_allowed: json_list("visits.media_allowed", &r.get::<String, _>(10))?,
                })
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn add_template(
        &self,
        id: &str,
        person: &PersonId,
        match_id: &MatchId,
        modality: &str,
        position: i64,
        quality: i64,
        sealed: &crate::secrets::crypto::Sealed,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO templates(id, person_id, match_id, modality, position, status, quality, wrapped_key, ciphertext, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)")
            .bind(id)
            .bind(person.as_str())
            .bind(match_id.as_str())
            .bind(modality)
            .bind(position)
            .bind(status)
            .bind(quality)
            .bind(&sealed.wrapped_key)
            .bind(&sealed.ciphertext)
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(|e| Self::conflict_or(e, format!("template {id}")))?;
        Ok(())
    }

    /// Approved templates whose data keys still exist, for loading into the matcher.
    pub async fn live_templates(&self) -> Result<Vec<TemplateRow>, StoreError> {
        self.sealed_templates(None).await
    }

    /// One template still sealed, whatever its status (an approval loads a pending one into the matcher).
    pub async fn sealed_template(&self, id: &str) -> Result<Option<TemplateRow>, StoreError> {
        Ok(self.sealed_templates(Some(id)).await?.pop())
    }

    /// `id`: that template whatever its status; `None`: every approved one.
    async fn sealed_templates(&self, id: Option<&str>) -> Result<Vec<TemplateRow>, StoreError> {
        let q = match id {
            Some(id) => sqlx::query("SELECT id, person_id, match_id, modality, position, wrapped_key, ciphertext FROM templates WHERE id = ? AND wrapped_key IS NOT NULL").bind(id),
            None => sqlx::query("SELECT id, person_id, match_id, modality, position, wrapped_key, ciphertext FROM templates WHERE status = 'approved' AND wrapped_key IS NOT NULL ORDER BY created_at, id"),
        };
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| TemplateRow {
                id: r.get(0),
                person: PersonId::new(r.get::<String, _>(1)),
                match_id: MatchId::new(r.get::<String, _>(2)),
                modality: r.get(3),
                position: r.get(4),
                wrapped_key: r.get(5),
                ciphertext: r.get(6),
            })
            .collect())
    }

    pub async fn save_lockout(&self, person: &str, reader: &str, state_json: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO lockouts(person_id, reader_id, state) VALUES (?,?,?) ON CONFLICT(person_id, reader_id) DO UPDATE SET state = excluded.state")
            .bind(person)
            .bind(reader)
            .bind(state_json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Throttling state as it was saved, so a restart does not wipe a lockout (NIST SP 800-63B).
    pub async fn lockouts(&self) -> Result<tobira_core::lockout::LockoutBook, StoreError> {
        let rows = sqlx::query("SELECT person_id, reader_id, state FROM lockouts").fetch_all(&self.pool).await?;
        let mut book = tobira_core::lockout::LockoutBook::default();
        for r in rows {
            let state: String = r.get(2);
            let entry: tobira_core::lockout::LockEntry = serde_json::from_str(&state)
                .map_err(|_| StoreError::Malformed { field: "lockouts.state", value: state.clone() })?;
            book.restore((PersonId::new(r.get::<String, _>(0)), ReaderId::new(r.get::<String, _>(1))), entry);
        }
        Ok(book)
    }

    /// The registry snapshot policy decides with.
    pub async fn load_registry(&self, site: Site) -> Result<Registry, StoreError> {
        let people = self.people().await?.into_iter().map(|p| (p.id.clone(), p)).collect();
        Ok(Registry {
            site,
            people,
            grants: self.grants().await?,
            off_hours: self.off_hours().await?,
            visits: self.visits().await?,
        })
    }
}
