//! A small `robots.txt` reader: the groups for `*` (or our agent name), `Disallow` and `Allow`
//! path prefixes, the longest match wins (as in RFC 9309). Wildcards inside paths are treated
//! as literal prefixes up to the first `*`, which errs on the side of not fetching.

/// The agent name matched against `User-agent` lines.
pub const AGENT: &str = "blaigent";

/// The rules that apply to us.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Robots {
    rules: Vec<(bool, String)>,
}

impl Robots {
    /// Parses a robots.txt body.
    pub fn parse(body: &str) -> Self {
        let mut specific: Vec<(bool, String)> = Vec::new();
        let mut generic: Vec<(bool, String)> = Vec::new();
        let mut agents: Vec<String> = Vec::new();
        let mut in_rules = false;
        for line in body.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" => {
                    if in_rules {
                        agents.clear();
                        in_rules = false;
                    }
                    agents.push(value.to_ascii_lowercase());
                }
                "allow" | "disallow" => {
                    in_rules = true;
                    if value.is_empty() {
                        continue;
                    }
                    let prefix = value.split('*').next().unwrap_or("").trim_end_matches('$');
                    let rule = (key == "allow", prefix.to_owned());
                    if agents
                        .iter()
                        .any(|a| AGENT.starts_with(a.as_str()) && !a.is_empty() && a != "*")
                    {
                        specific.push(rule.clone());
                    }
                    if agents.iter().any(|a| a == "*") {
                        generic.push(rule);
                    }
                }
                _ => {}
            }
        }
        Self {
            rules: if specific.is_empty() {
                generic
            } else {
                specific
            },
        }
    }

    /// Tells whether `path` (with its query) may be fetched.
    pub fn allows(&self, path: &str) -> bool {
        self.rules
            .iter()
            .filter(|(_, prefix)| path.starts_with(prefix.as_str()))
            .max_by_key(|(allow, prefix)| (prefix.len(), *allow))
            .is_none_or(|(allow, _)| *allow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_matching_rule_for_star_decides() {
        let robots = Robots::parse(
            "User-agent: googlebot\nDisallow: /\n\nUser-agent: *\nDisallow: /private\nAllow: /private/faq\n",
        );
        assert!(robots.allows("/help"));
        assert!(!robots.allows("/private/notes"));
        assert!(robots.allows("/private/faq.html"));
    }

    #[test]
    fn a_group_naming_us_replaces_the_star_group() {
        let robots =
            Robots::parse("User-agent: *\nDisallow: /\n\nUser-agent: Blaigent\nDisallow: /cart\n");
        assert!(robots.allows("/help"));
        assert!(!robots.allows("/cart/1"));
    }

    #[test]
    fn an_empty_file_allows_everything() {
        assert!(Robots::parse("").allows("/anything"));
    }
}
