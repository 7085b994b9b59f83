//! Places of the 2023 and 2025 geographies the tests collect forms in, and the forms collected
//! there ([`Place::form`]).

use geography::{Geography, Level};
use sync_protocol::sample::SipasForm;

/// The geography of a round: `vn-2023` for `sipas-2023`, `vn-2025` for the others.
pub fn geography_of(round: &str) -> &'static Geography {
    if round == "sipas-2023" {
        geography::vn_2023()
    } else {
        geography::vn_2025()
    }
}

/// The first commune of a 2025 province (in the geography's own order).
pub fn commune_2025(province: &str) -> String {
    geography::vn_2025()
        .children(province)
        .next()
        .expect("the province has communes")
        .code
        .clone()
}

/// A Lai Châu commune of the 2025 geography: the first of province 12, which is also the sample
/// forms' default ([`sync_protocol::sample::COMMUNE`]).
pub fn lai_chau_commune() -> String {
    commune_2025("12")
}

/// A Sơn La commune of the 2025 geography: the first of province 14.
pub fn son_la_commune() -> String {
    commune_2025("14")
}

/// Every commune of `geo` inside `unit`, by code.
pub fn communes_in(geo: &Geography, unit: &str) -> Vec<String> {
    let mut v: Vec<String> = geo
        .units()
        .iter()
        .filter(|u| u.level == Level::Commune && geo.is_within(&u.code, unit))
        .map(|u| u.code.clone())
        .collect();
    v.sort();
    v
}

/// The first commune of the 2025 geography (in its own order) outside `province`.
pub fn commune_2025_outside(province: &str) -> String {
    let geo = geography::vn_2025();
    geo.units()
        .iter()
        .find(|u| u.level == Level::Commune && !geo.is_within(&u.code, province))
        .map(|u| u.code.clone())
        .unwrap_or_else(|| panic!("a commune outside {province}"))
}

/// A 2023 commune that a 2025 commune was formed from, with its district: `(district, commune)`.
pub fn predecessor_2023(commune_2025: &str) -> (String, String) {
    let old = geography::vn_2023_to_2025()
        .predecessors(commune_2025)
        .into_iter()
        .find(|c| {
            geography::vn_2023()
                .unit(c)
                .is_some_and(|u| u.level == Level::Commune)
        })
        .expect("a 2023 predecessor commune");
    let unit = geography::vn_2023().unit(old).expect("the predecessor");
    (unit.parent.clone().expect("district"), old.to_owned())
}

/// Where a form is collected: a commune of a round's geography with the units above it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// Round code.
    pub round: String,
    /// Province code.
    pub province: String,
    /// District code, where the round's geography has districts.
    pub district: Option<String>,
    /// Commune code.
    pub commune: String,
}

impl Place {
    /// The place of `commune` of the round's geography (panics unless it is a commune).
    pub fn of(round: &str, commune: &str) -> Place {
        let path = geography_of(round).path(commune);
        let code_at = |l: Level| path.iter().find(|u| u.level == l).map(|u| u.code.clone());
        assert_eq!(
            code_at(Level::Commune).as_deref(),
            Some(commune),
            "{commune} is a commune"
        );
        Place {
            round: round.to_owned(),
            province: code_at(Level::Province).expect("province"),
            district: code_at(Level::District),
            commune: commune.to_owned(),
        }
    }

    /// The `i`-th commune (by code) of `unit` in the round's geography.
    pub fn nth(round: &str, unit: &str, i: usize) -> Place {
        let all = communes_in(geography_of(round), unit);
        Place::of(round, &all[i])
    }

    /// A `sipas-2023` commune of `old_province` whose default 2025 successor lies in
    /// `new_province`.
    pub fn going_to(old_province: &str, new_province: &str) -> Place {
        let m = geography::vn_2023_to_2025();
        let code = communes_in(geography::vn_2023(), old_province)
            .into_iter()
            .find(|c| {
                m.default_successor(c)
                    .is_some_and(|s| geography::vn_2025().is_within(s, new_province))
            })
            .unwrap_or_else(|| panic!("no commune of {old_province} going to {new_province}"));
        Place::of("sipas-2023", &code)
    }

    /// A sample form of this place's round collected here (village [`sync_protocol::sample::VILLAGE`]
    /// unless changed).
    pub fn form(&self) -> SipasForm {
        let f = SipasForm::new()
            .round(&self.round)
            .province(&self.province)
            .commune(&self.commune);
        match &self.district {
            Some(d) => f.district(d),
            None => f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_forms_default_place_is_the_first_lai_chau_commune() {
        assert_eq!(lai_chau_commune(), sync_protocol::sample::COMMUNE);
        let f = Place::of("sipas-2025", &lai_chau_commune()).form().build();
        assert_eq!(f.units, sync_protocol::sample::form().units);
    }
}
