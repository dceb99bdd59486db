//! English and Russian, chosen by `Accept-Language` (a `lang` cookie overrides it).

use axum::http::{HeaderMap, header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    /// The `lang` cookie if set, else the best of `en`/`ru` in `Accept-Language` by q-value, else English.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        if let Some(choice) = crate::central::web::cookies::get(headers, "lang") {
            match choice.as_str() {
                "ru" => return Lang::Ru,
                "en" => return Lang::En,
                _ => {}
            }
        }
        let Some(accept) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else { return Lang::En };
        let mut best: Option<(u32, Lang)> = None;
        for part in accept.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality =
                pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(quality_thousandths).unwrap_or(1000);
            let lang = match tag.split('-').next() {
                Some("ru") => Lang::Ru,
                Some("en") => Lang::En,
                _ => continue,
            };
            if quality > 0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// The text of `key` in this language.
    pub fn t(self, key: Text) -> &'static str {
        let (en, ru) = key.pair();
        match self {
            Lang::En => en,
            Lang::Ru => ru,
        }
    }
}

/// Every text of the OAuth and claim pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    ConsentTitle,
    ConsentLead,
    SignInLead,
    Email,
    Password,
    ScopeCheck,
    ScopeHold,
    ScopeCharge,
    SpendingCap,
    SpendingCapHint,
    Allow,
    Deny,
    SignedInAs,
    WrongPassword,
    NoScope,
    BadCap,
    TooManyAttempts,
    ErrorTitle,
    UnknownClient,
    BadRedirect,
    ExpiredRequest,
    BadForm,
    ClaimTitle,
    ClaimLead,
    NewPassword,
    ClaimButton,
    Claimed,
}

impl Text {
    fn pair(self) -> (&'static str, &'static str) {
        match self {
            Text::ConsentTitle => ("Sign in with PROTUS", "Вход через PROTUS"),
            Text::ConsentLead => {
                ("wants access to your PROTUS wallet:", "запрашивает доступ к вашему кошельку PROTUS:")
            }
            Text::SignInLead => {
                ("Sign in to your PROTUS account to continue.", "Войдите в свой аккаунт PROTUS, чтобы продолжить.")
            }
            Text::Email => ("Email", "Email"),
            Text::Password => ("Password", "Пароль"),
            Text::ScopeCheck => ("See whether your wallet can pay (check)", "Проверять, хватает ли средств (check)"),
            Text::ScopeHold => ("Reserve funds for a later payment (hold)", "Резервировать средства для оплаты (hold)"),
            Text::ScopeCharge => {
                ("Charge your wallet for its services (charge)", "Списывать оплату за услуги (charge)")
            }
            Text::SpendingCap => ("Spending limit for 30 days (optional)", "Лимит расходов на 30 дней (необязательно)"),
            Text::SpendingCapHint => ("Leave empty for no limit.", "Оставьте пустым, чтобы не ограничивать."),
            Text::Allow => ("Allow", "Разрешить"),
            Text::Deny => ("Deny", "Отклонить"),
            Text::SignedInAs => ("Signed in as", "Вы вошли как"),
            Text::WrongPassword => ("Wrong email or password.", "Неверный email или пароль."),
            Text::NoScope => {
                ("Choose at least one permission, or deny.", "Выберите хотя бы одно разрешение или отклоните запрос.")
            }
            Text::BadCap => (
                "The limit must be an amount like 500 or 500.00.",
                "Лимит должен быть суммой, например 500 или 500.00.",
            ),
            Text::TooManyAttempts => (
                "Too many attempts. Wait a few minutes and try again.",
                "Слишком много попыток. Подождите несколько минут.",
            ),
            Text::ErrorTitle => ("This sign-in cannot continue", "Вход невозможен"),
            Text::UnknownClient => (
                "The service that sent you here is not registered with PROTUS.",
                "Сервис, который направил вас сюда, не зарегистрирован в PROTUS.",
            ),
            Text::BadRedirect => (
                "The service sent a return address it has not registered, so PROTUS will not send you there.",
                "Сервис указал незарегистрированный адрес возврата, поэтому PROTUS не будет вас туда перенаправлять.",
            ),
            Text::ExpiredRequest => (
                "This sign-in request has expired or was already answered. Start again from the service's site.",
                "Запрос на вход устарел или уже обработан. Начните заново на сайте сервиса.",
            ),
            Text::BadForm => (
                "The form could not be accepted. Reload the page and try again.",
                "Форма не принята. Обновите страницу и попробуйте снова.",
            ),
            Text::ClaimTitle => ("Claim your PROTUS wallet", "Получите доступ к кошельку PROTUS"),
            Text::ClaimLead => ("Choose a password for your wallet.", "Придумайте пароль для вашего кошелька."),
            Text::NewPassword => ("New password (at least 8 characters)", "Новый пароль (не менее 8 символов)"),
            Text::ClaimButton => ("Claim my wallet", "Получить доступ"),
            Text::Claimed => (
                "Your wallet is yours. Confirm the services a company connected for you on your connected-services page.",
                "Кошелёк ваш. Подтвердите подключённые компаниями сервисы на странице подключённых сервисов.",
            ),
        }
    }
}

/// An RFC 9110 q-value (`0`, `0.8`, `1.000`) in thousandths, without floating point.
fn quality_thousandths(text: &str) -> Option<u32> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{fraction:0<3}");
    let value = whole.parse::<u32>().ok()? * 1000 + padded.parse::<u32>().ok()?;
    (value <= 1000).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(accept: &str) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(accept).expect("header"));
        Lang::from_headers(&headers)
    }

    #[test]
    fn the_best_supported_language_wins() {
        // Proves q-values are honoured, unknown languages skipped, and English is the default.
        assert_eq!(with("ru-RU,ru;q=0.9,en;q=0.8"), Lang::Ru);
        assert_eq!(with("de-DE,en;q=0.5,ru;q=0.7"), Lang::Ru);
        assert_eq!(with("en-GB,ru;q=0.3"), Lang::En);
        assert_eq!(with("fr"), Lang::En);
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::En);
        assert_eq!(Lang::Ru.t(Text::Allow), "Разрешить");
    }
}
