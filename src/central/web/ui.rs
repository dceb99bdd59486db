//! Every text of the web interface's pages, in English and Russian. One line per text keeps the
//! two languages side by side; a missing translation is a compile error, not a blank.

use crate::central::web::i18n::Lang;

macro_rules! texts {
    ($($name:ident: $en:expr, $ru:expr;)*) => {
        /// The texts of one language; templates read them as `t.name`.
        #[derive(Debug)]
        pub struct Ui { $(pub $name: &'static str,)* }
        pub static EN: Ui = Ui { $($name: $en,)* };
        pub static RU: Ui = Ui { $($name: $ru,)* };
    };
}

/// The texts of `lang`.
pub fn ui(lang: Lang) -> &'static Ui {
    match lang {
        Lang::En => &EN,
        Lang::Ru => &RU,
    }
}

texts! {
    tagline: "One wallet for many services", "Один кошелёк для многих сервисов";
    skip_link: "Skip to content", "Перейти к содержанию";
    nav_label: "Main", "Главное меню";
    nav_home: "Home", "Главная";
    nav_sign_in: "Sign in", "Вход";
    nav_register: "Register", "Регистрация";
    nav_sign_out: "Sign out", "Выйти";
    nav_wallet: "Wallet", "Кошелёк";
    nav_accounts: "Accounts", "Счета";
    nav_statement: "Statement", "Выписка";
    nav_connected: "Connected services", "Подключённые сервисы";
    nav_overview: "Company", "Компания";
    nav_secrets: "Secrets", "Ключи";
    nav_services: "Services", "Услуги";
    nav_users: "Users' accounts", "Счета пользователей";
    nav_invoices: "Invoices", "Инвойсы";
    nav_webhooks: "Webhooks", "Вебхуки";
    lang_label: "Language", "Язык";
    signed_in_as: "Signed in as", "Вы вошли как";
    footer: "PROTUS — pay many internet services from one wallet.", "PROTUS — оплата многих интернет-сервисов из одного кошелька.";

    home_title: "Welcome to PROTUS", "Добро пожаловать в PROTUS";
    home_lead: "PROTUS lets you pay many internet services from one wallet, and lets those services bill you safely.", "PROTUS позволяет оплачивать многие интернет-сервисы из одного кошелька, а сервисам — безопасно выставлять счета.";
    home_people: "For people", "Для людей";
    home_people_1: "Top up one wallet and pay every partner service from it.", "Пополняйте один кошелёк и оплачивайте из него все сервисы-партнёры.";
    home_people_2: "Sign in to services with your PROTUS account and choose what each may do.", "Входите в сервисы с аккаунтом PROTUS и решайте, что каждому разрешено.";
    home_people_3: "See what you spent at each service, day by day.", "Смотрите, сколько вы потратили в каждом сервисе, по дням.";
    home_people_4: "Set a spending limit or revoke a service's access at any time.", "Ставьте лимит расходов или отключайте сервис в любой момент.";
    home_companies: "For companies", "Для компаний";
    home_companies_1: "Let people sign in with PROTUS (OAuth 2.1 with PKCE).", "Вход пользователей через PROTUS (OAuth 2.1 с PKCE).";
    home_companies_2: "Check balances, hold funds and charge for priced services.", "Проверяйте баланс, резервируйте средства и списывайте оплату за услуги.";
    home_companies_3: "Receive signed webhooks and see every delivery.", "Получайте подписанные вебхуки и видите каждую доставку.";
    home_companies_4: "See your users' accounts, invoices and revenue.", "Смотрите счета пользователей, инвойсы и выручку.";
    home_register_person: "Open a wallet", "Открыть кошелёк";
    home_register_company: "Register a company", "Зарегистрировать компанию";

    register_title: "Register", "Регистрация";
    kind_legend: "Who are you?", "Кто вы?";
    kind_person: "A person", "Физическое лицо";
    kind_company: "A company", "Компания";
    email: "Email", "Email";
    password: "Password", "Пароль";
    password_hint: "At least 8 characters.", "Не менее 8 символов.";
    username: "Username", "Имя пользователя";
    username_hint: "3 to 32 letters, digits, dots, dashes or underscores.", "От 3 до 32 букв, цифр, точек, дефисов или подчёркиваний.";
    company_name: "Company name", "Название компании";
    register_button: "Register", "Зарегистрироваться";
    have_account: "Already registered?", "Уже зарегистрированы?";
    claim_sent: "This email already has a wallet that a company opened for you. We sent a link to it: open it to claim the wallet and set your password.", "Для этого email компания уже открыла кошелёк. Мы отправили на него ссылку: откройте её, чтобы получить доступ к кошельку и задать пароль.";
    sign_in_title: "Sign in", "Вход";
    sign_in_button: "Sign in", "Войти";
    no_account: "No account yet?", "Ещё нет аккаунта?";
    wrong_password: "Wrong email or password.", "Неверный email или пароль.";
    too_many: "Too many attempts. Wait a few minutes and try again.", "Слишком много попыток. Подождите несколько минут.";
    check_fields: "Check the marked fields.", "Проверьте отмеченные поля.";
    form_expired: "The form had expired, so nothing was changed. Send it again.", "Форма устарела, поэтому ничего не изменилось. Отправьте её ещё раз.";
    taken: "This is already taken.", "Это уже занято.";
    bad_email: "Enter an email address like name@example.com.", "Введите email вида name@example.com.";
    bad_password: "The password must be 8 to 128 characters.", "Пароль должен содержать от 8 до 128 символов.";
    bad_username: "Use 3 to 32 letters, digits, dots, dashes or underscores.", "Используйте от 3 до 32 букв, цифр, точек, дефисов или подчёркиваний.";
    bad_name: "Enter a name of 1 to 100 characters.", "Введите название длиной от 1 до 100 символов.";
    bad_amount: "Enter an amount like 500 or 500.00, above zero.", "Введите сумму больше нуля, например 500 или 500,00.";
    bad_url: "Enter a full http:// or https:// address.", "Введите полный адрес http:// или https://.";
    welcome_company: "Your company is registered. Copy its secrets now: they are shown only this once.", "Компания зарегистрирована. Скопируйте ключи сейчас: они показываются только один раз.";
    continue_to_company: "Continue to your company", "Перейти к компании";

    wallet_title: "Wallet", "Кошелёк";
    available: "Available", "Доступно";
    held: "Held", "Зарезервировано";
    leased: "Reserved for services", "Выделено сервисам";
    debt: "Debt", "Долг";
    wallet_hint: "Held money is blocked for a payment a service has started; reserved money is set aside for a service's own billing node. Both come back if unused.", "Зарезервированные средства заблокированы под начатую сервисом оплату; выделенные — отложены для узла биллинга сервиса. Неиспользованное возвращается.";
    top_up_title: "Top up", "Пополнить";
    amount: "Amount", "Сумма";
    top_up_button: "Top up", "Пополнить";
    provider: "Payment provider", "Платёжный провайдер";
    no_provider: "Top-ups are not available on this node: no payment provider is enabled.", "Пополнение недоступно: на этом узле не подключён платёжный провайдер.";
    top_up_label: "Top-up", "Пополнение";
    status_pending: "pending", "в обработке";
    status_succeeded: "completed", "зачислено";
    status_failed: "failed", "отклонено";
    refresh: "Refresh", "Обновить";
    unclaimed: "This wallet was opened by a company and is not claimed yet, so it cannot be topped up.", "Этот кошелёк открыт компанией и ещё не подтверждён, поэтому его нельзя пополнить.";

    accounts_title: "Your accounts at services", "Ваши счета в сервисах";
    col_company: "Company", "Компания";
    col_account: "Account", "Счёт";
    col_since: "Since", "С";
    col_paid: "Paid", "Оплачено";
    details: "Details", "Подробнее";
    no_accounts: "You have no accounts yet. Sign in to a partner service with PROTUS to open one.", "Счетов пока нет. Войдите в сервис-партнёр через PROTUS, чтобы открыть счёт.";
    chart_spending: "Spending per day, last 30 days", "Расходы по дням за 30 дней";
    chart_empty: "Nothing was spent in the last 30 days.", "За последние 30 дней расходов не было.";
    chart_table: "The same figures as a table", "Те же данные таблицей";
    col_day: "Day", "День";
    col_total: "Total", "Итого";
    other_services: "Other", "Прочее";
    account_at: "Account at", "Счёт в";
    charges: "Charges", "Списания";
    col_date: "Date", "Дата";
    col_invoice: "Invoice", "Инвойс";
    col_service: "Service", "Услуга";
    col_amount: "Amount", "Сумма";
    col_status: "Status", "Статус";
    col_user: "User", "Пользователь";
    no_charges: "No charges yet.", "Списаний пока нет.";
    back: "Back", "Назад";

    statement_title: "Statement", "Выписка";
    col_operation: "Operation", "Операция";
    col_balance: "Balance after", "Остаток";
    kind_top_up: "Top-up", "Пополнение";
    kind_charge: "Charge", "Списание";
    kind_reversal: "Reversal", "Возврат";
    no_operations: "No operations yet.", "Операций пока нет.";
    older: "Older", "Ранее";
    newest: "Newest", "Последние";
    pages_label: "Pages", "Страницы";

    connected_title: "Connected services", "Подключённые сервисы";
    connected_lead: "Each service below may use your wallet with the permissions you gave it. You can take permissions away, set a 30-day spending limit, or revoke access.", "Каждый сервис ниже может пользоваться кошельком с выданными вами разрешениями. Вы можете убрать разрешения, задать лимит на 30 дней или отключить доступ.";
    permissions: "Permissions", "Разрешения";
    scope_check: "See whether your wallet can pay (check)", "Проверять, хватает ли средств (check)";
    scope_hold: "Reserve funds for a later payment (hold)", "Резервировать средства для оплаты (hold)";
    scope_charge: "Charge your wallet for its services (charge)", "Списывать оплату за услуги (charge)";
    narrow_hint: "You can only take permissions away here; to give more, sign in through the service again.", "Здесь можно только убрать разрешения; чтобы выдать больше, войдите через сервис заново.";
    cap: "Spending limit for 30 days", "Лимит расходов на 30 дней";
    cap_hint: "Leave empty for no limit.", "Оставьте пустым, чтобы не ограничивать.";
    no_cap: "no limit", "без лимита";
    save: "Save", "Сохранить";
    saved: "Saved.", "Сохранено.";
    revoke: "Revoke access", "Отключить доступ";
    revoke_question: "Revoke the access of", "Отключить доступ сервиса";
    revoke_lead: "The service will no longer be able to check, hold or charge your wallet. Payments it already started can still complete. To use it again, sign in through it anew.", "Сервис больше не сможет проверять, резервировать и списывать средства. Уже начатые им оплаты могут завершиться. Чтобы пользоваться им снова, войдите через него заново.";
    revoke_yes: "Yes, revoke access", "Да, отключить";
    revoked_done: "Access revoked.", "Доступ отключён.";
    cancel: "Cancel", "Отмена";
    confirm_grant: "Confirm this service", "Подтвердить сервис";
    suspended_lead: "A company connected this service for you before you claimed your wallet. It cannot bill you until you confirm it.", "Компания подключила этот сервис до того, как вы получили доступ к кошельку. Он не сможет выставлять счета, пока вы его не подтвердите.";
    grant_active: "active", "активен";
    grant_suspended: "waiting for your confirmation", "ждёт подтверждения";
    grant_revoked: "revoked", "отключён";
    no_grants: "No services are connected.", "Подключённых сервисов нет.";
    since: "connected", "подключён";

    overview_title: "Company", "Компания";
    client_id: "Client id", "Client id";
    webhook_url: "Webhook URL", "URL для вебхуков";
    webhook_hint: "Signed events are sent here. Leave empty to stop sending.", "Сюда отправляются подписанные события. Оставьте пустым, чтобы не отправлять.";
    redirect_uris: "OAuth redirect URIs", "Адреса возврата OAuth";
    redirect_hint: "One address per line, at most 20; compared exactly.", "По одному адресу в строке, не больше 20; сравниваются точно.";
    not_set: "not set", "не задан";
    chart_revenue: "Revenue per day, last 30 days", "Выручка по дням за 30 дней";
    chart_active: "Accounts charged per day, last 30 days", "Счета со списаниями по дням за 30 дней";
    col_revenue: "Revenue", "Выручка";
    col_active: "Accounts", "Счета";
    no_revenue: "No charges in the last 30 days.", "За последние 30 дней списаний не было.";

    secrets_title: "Secrets", "Ключи";
    secrets_lead: "PROTUS keeps only a digest of the client secret, so it cannot show it again. Rotate a secret to get a new one; the old one keeps working for 24 hours.", "PROTUS хранит только хеш client secret и не может показать его снова. Замените ключ, чтобы получить новый; старый работает ещё 24 часа.";
    client_secret: "Client secret", "Client secret";
    webhook_secret: "Webhook signing secret", "Ключ подписи вебхуков";
    rotate_client: "Rotate the client secret", "Заменить client secret";
    rotate_webhook: "Rotate the webhook secret", "Заменить ключ вебхуков";
    new_secret: "Your new secret. Copy it now: it is shown only this once.", "Новый ключ. Скопируйте его сейчас: он показывается только один раз.";
    old_until: "The previous one works until", "Предыдущий работает до";

    services_title: "Services", "Услуги";
    add_service: "Add a service", "Добавить услугу";
    service_name: "Name", "Название";
    price: "Price", "Стоимость";
    col_name: "Name", "Название";
    col_id: "Id", "Идентификатор";
    col_price: "Price", "Стоимость";
    add: "Add", "Добавить";
    deactivate: "Deactivate", "Отключить";
    activate: "Activate", "Включить";
    active: "active", "активна";
    inactive: "inactive", "отключена";
    no_services: "You have not added any services yet.", "Вы пока не добавили услуг.";
    edit_service: "Edit", "Изменить";

    users_title: "Users' accounts", "Счета пользователей";
    no_users: "Your users' accounts will appear here once people sign in with PROTUS.", "Здесь появятся счета пользователей, когда они войдут через PROTUS.";
    invoices_title: "Invoices", "Инвойсы";
    all_services: "All services", "Все услуги";
    show: "Show", "Показать";
    no_invoices: "No invoices yet.", "Инвойсов пока нет.";
    status_settled: "settled", "оплачен";
    status_accepted: "accepted", "принят";
    status_reversed: "reversed", "возвращён";

    webhooks_title: "Webhook deliveries", "Доставка вебхуков";
    col_event: "Event", "Событие";
    col_attempts: "Attempts", "Попытки";
    col_response: "Last answer", "Последний ответ";
    col_next: "Next attempt", "Следующая попытка";
    retry: "Send again", "Отправить снова";
    retried: "The delivery will be sent again shortly.", "Доставка скоро будет повторена.";
    no_deliveries: "No deliveries yet.", "Доставок пока нет.";
    set_webhook_first: "Set a webhook URL before sending again.", "Сначала задайте URL для вебхуков.";
    delivery_pending: "pending", "ожидает";
    delivery_failed: "failed, will retry", "ошибка, будет повтор";
    delivery_succeeded: "delivered", "доставлено";
    delivery_exhausted: "gave up", "попытки исчерпаны";

    not_found_title: "Page not found", "Страница не найдена";
    not_found_lead: "There is nothing at this address, or it belongs to someone else.", "По этому адресу ничего нет, или это чужая страница.";
    error_title: "Something went wrong", "Что-то пошло не так";
    error_lead: "The error has been logged. Try again in a moment.", "Ошибка записана в журнал. Попробуйте ещё раз чуть позже.";
    go_home: "Go to the home page", "На главную";
}
