//! Forms of the site: reading a posted form, handing its values to the JSON API's own handler
//! (so every rule is the API's), and turning the API's problem into messages next to fields.

use serde::de::DeserializeOwned;

use crate::central::web::i18n::Lang;
use crate::central::web::ui::Ui;
use crate::http::json::ApiJson;
use crate::http::problem::Problem;

/// A posted `application/x-www-form-urlencoded` body, fields in order.
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &str) -> FormData {
        FormData(form_urlencoded::parse(body.as_bytes()).into_owned().collect())
    }

    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }

    /// Every value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// A JSON body for an API handler, as its extractor would have made it.
pub fn api_json<T: DeserializeOwned>(raw: serde_json::Value) -> Result<ApiJson<T>, Problem> {
    let value = serde_json::from_value(raw.clone()).map_err(|e| Problem::invalid_request(e.to_string()))?;
    Ok(ApiJson { value, raw })
}

/// What a refused form shows: a message per field and one for the whole form.
#[derive(Debug, Default, Clone)]
pub struct FormErrors {
    fields: Vec<(String, String)>,
    pub general: String,
}

impl FormErrors {
    pub fn general(message: &str) -> FormErrors {
        FormErrors { fields: Vec::new(), general: message.to_owned() }
    }

    pub fn field(name: &str, message: &str) -> FormErrors {
        FormErrors { fields: vec![(name.to_owned(), message.to_owned())], general: String::new() }
    }

    /// The message next to field `name`, or "".
    pub fn of(&self, name: &str) -> &str {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, m)| m.as_str()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    /// The API's refusal in the page's language. English shows the API's own words; Russian shows
    /// the field's rule in Russian (the API speaks English only).
    pub fn from_problem(problem: &Problem, t: &Ui, lang: Lang) -> FormErrors {
        let detail = problem.detail.clone().unwrap_or_default();
        if !problem.errors.is_empty() {
            let fields = problem
                .errors
                .iter()
                .map(|e| {
                    let name = e.field.split('[').next().unwrap_or_default().to_owned();
                    let message = match lang {
                        Lang::En => capitalise(&e.message),
                        Lang::Ru => field_rule(&name, t).to_owned(),
                    };
                    (name, message)
                })
                .collect();
            return FormErrors { fields, general: t.check_fields.to_owned() };
        }
        let message = match lang {
            Lang::En => capitalise(&detail),
            Lang::Ru if problem.code == "conflict" => t.taken.to_owned(),
            Lang::Ru => t.error_lead.to_owned(),
        };
        if problem.code == "conflict" {
            // A duplicate belongs next to the field it is about.
            for field in ["email", "name"] {
                if detail.contains(&format!(" {field} ")) || detail.contains(&format!("this {field}")) {
                    return FormErrors {
                        fields: vec![(field.to_owned(), message)],
                        general: t.check_fields.to_owned(),
                    };
                }
            }
        }
        FormErrors::general(&message)
    }
}

/// The Russian statement of a field's rule.
fn field_rule(field: &str, t: &Ui) -> &'static str {
    match field {
        "email" => t.bad_email,
        "password" => t.bad_password,
        "username" => t.bad_username,
        "name" => t.bad_name,
        "amount" | "price" | "spending_cap" => t.bad_amount,
        "webhook_url" | "redirect_uris" => t.bad_url,
        _ => t.check_fields,
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.as_str();
            let end = if rest.ends_with('.') { "" } else { "." };
            format!("{}{rest}{end}", first.to_uppercase())
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::central::web::ui::{EN, RU};
    use crate::http::problem::FieldError;

    #[test]
    fn problems_become_messages_next_to_their_fields() {
        // Proves field errors land on their field in both languages, and a duplicate email is put next to the email field.
        let problem = Problem::fields(vec![
            FieldError { field: "email".to_owned(), message: "not an email address".to_owned() },
            FieldError { field: "redirect_uris[1]".to_owned(), message: "must be an http(s) URL".to_owned() },
        ]);
        let en = FormErrors::from_problem(&problem, &EN, Lang::En);
        assert_eq!(en.of("email"), "Not an email address.");
        assert_eq!(en.of("redirect_uris"), "Must be an http(s) URL.");
        assert_eq!(en.general, EN.check_fields);
        let ru = FormErrors::from_problem(&problem, &RU, Lang::Ru);
        assert_eq!(ru.of("email"), RU.bad_email);
        let taken = Problem::conflict("conflict", "a company with this email already exists");
        assert_eq!(FormErrors::from_problem(&taken, &RU, Lang::Ru).of("email"), RU.taken);
        assert!(FormErrors::from_problem(&taken, &EN, Lang::En).of("email").starts_with("A company with this email"));
        let form = FormData::parse("granted_scope=check&granted_scope=charge&email=a%40b.c");
        assert_eq!(form.all("granted_scope"), vec!["check", "charge"]);
        assert_eq!(form.get("email"), "a@b.c");
        assert_eq!(form.get("missing"), "");
    }
}
