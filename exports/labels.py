"""Every word printed in an export, in Kazakh (default) and Russian.

Keys are stable English identifiers; ``label(key, lang)`` looks one up and raises
``KeyError`` naming the key, so a missing translation fails loudly in tests
(``tests/unit/test_export_labels.py`` checks both dictionaries have the same keys).
Accounting vocabulary: акт / табель / жоспар / факт / үнем (kk); акт / табель / план /
факт / экономия (ru).
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["kk", "ru"]
LANGS: tuple[Lang, ...] = ("kk", "ru")

KK: dict[str, str] = {
    # common
    "school": "Мектеп", "region": "Облыс", "district": "Аудан", "period": "Есепті кезең",
    "date": "Күні", "band": "Білім беру деңгейі", "amount": "Сомасы, ₸", "total": "Барлығы",
    "total_for": "Барлығы: {what}", "position": "Оқиғалар журналының позициясы",
    "chain_head": "Хэш-тізбектің басы", "generated_at": "Қалыптастырылды",
    "no": "№", "yes_word": "Иә", "no_word": "Жоқ", "page": "Бет &P / &N",
    # bands
    "band.preschool": "Мектепалды даярлық (0 сынып)", "band.primary": "Бастауыш (1–4 сынып)",
    "band.senior": "5–11 сыныптар",
    # tenant statement
    "statement.sheet": "Акт",
    "statement.title": "Тегін тамақтандыруды ұйымдастыру бойынша көрсетілген қызметтер актісі",
    "statement.operator": "Асхана операторы (жалға алушы)",
    "statement.closed": "Кезең жабылды", "statement.open": "Кезең жабылмаған (алдын ала акт)",
    "statement.status": "Кезең күйі", "statement.funding": "Қаржыландыру көзі",
    "statement.meals": "Тамақ саны", "statement.rate": "Баға (тариф), ₸",
    "statement.adjustments": "Өткен кезеңдердің түзетулері",
    "statement.adj_day": "Бастапқы күні", "statement.adj_ref": "Бастапқы жазба",
    "statement.adj_desc": "Сипаттамасы", "statement.adj_month": "Кезеңнен",
    "statement.adj_total": "Түзетулер барлығы", "statement.accrued": "Түзетулермен есептелді",
    "statement.paid": "Төленді", "statement.outstanding": "Төленуге тиіс қалдық",
    "statement.signatures": "Қолдар", "statement.director": "Мектеп директоры",
    "statement.accountant": "Бухгалтер", "statement.sign": "(қолы)",
    "statement.name": "(аты-жөні)", "statement.stamp": "М.О.",
    # meal register
    "register.title": "Тамақтандырудың электрондық табелі", "register.class": "Сынып",
    "register.pupil": "Оқушы", "register.child_id": "ID", "register.legend": "Белгілер",
    "register.per_day": "Күн бойынша: {what}", "register.per_pupil": "Оқушы бойынша",
    "mark.funded": "Тегін (қаржыландырылған)", "mark.paid": "Ақылы", "mark.refused": "Бас тартты",
    "mark.absent": "Келмеді", "mark.unfunded": "Қаржыландырылмаған",
    "code.funded": "Т", "code.paid": "А", "code.refused": "Б", "code.absent": "Ж",
    "code.unfunded": "Қ",
    # free meals (order 456 p.9)
    "free.sheet": "Есеп", "free.dishes_sheet": "Мәзір",
    "free.title": "Тегін және жеңілдікпен тамақтану туралы ай сайынғы есеп "
                  "(№ 456 бұйрық, 9-тармақ)",
    "free.category": "Санат", "free.pupils": "Оқушылар саны", "free.meals": "Тамақ саны",
    "free.dish": "Тағам атауы", "free.price": "Бағасы, ₸", "free.free_meal": "Тегін тамақ",
    "category.universal": "Жаппай (1–4 сынып)", "category.large_family": "Көп балалы отбасы",
    "category.incomplete_family": "Толық емес отбасы",
    "category.dysfunctional_family": "Қолайсыз отбасы",
    "category.divorced_parents": "Ата-анасы ажырасқан",
    "category.low_income": "Аз қамтылған отбасы", "category.home_schooled": "Үйде оқитын",
    "category.disability": "Мүгедектігі бар", "category.guardianship": "Қамқорлықтағы",
    "category.targeted_social_assistance": "АӘК алушы",
    # attendance (order 456 p.12)
    "attendance.days_sheet": "Күндер бойынша", "attendance.entries_sheet": "Кіру-шығу",
    "attendance.title": "Келу туралы ай сайынғы есеп (№ 456 бұйрық, 12-тармақ)",
    "attendance.kind": "Санаты", "attendance.person": "Тұлға", "attendance.person_id": "ID",
    "attendance.first_in": "Алғашқы кіру", "attendance.last_out": "Соңғы шығу",
    "attendance.pupils_present": "Келген оқушылар", "attendance.staff_present":
        "Келген қызметкерлер",
    "attendance.time_zone": "Уақыт: Қазақстан уақыты (UTC+5)",
    "kind.pupil": "Оқушы", "kind.staff": "Қызметкер",
    # regional savings
    "savings.sheet": "Үнем", "savings.districts_sheet": "Аудандар",
    "savings.monthly_sheet": "Айлар бойынша",
    "savings.title": "Бюджет қаражатын үнемдеу: жоспар және факт",
    "savings.planned": "Жоспар (тізім бойынша), ₸", "savings.actual": "Факт (берілген тамақ), ₸",
    "savings.saving": "Үнем, ₸", "savings.percent": "Үнем, %", "savings.month": "Ай",
    "savings.school_id": "Мектеп коды", "savings.chart": "Мектептер бойынша жоспар және факт",
    "savings.planned_short": "Жоспар", "savings.actual_short": "Факт",
}

RU: dict[str, str] = {
    "school": "Школа", "region": "Область", "district": "Район", "period": "Отчётный период",
    "date": "Дата", "band": "Ступень обучения", "amount": "Сумма, ₸", "total": "Итого",
    "total_for": "Итого: {what}", "position": "Позиция журнала событий",
    "chain_head": "Вершина хэш-цепочки", "generated_at": "Сформирован",
    "no": "№", "yes_word": "Да", "no_word": "Нет", "page": "Стр. &P из &N",
    "band.preschool": "Предшкольный класс (0 класс)", "band.primary": "Начальные (1–4 классы)",
    "band.senior": "5–11 классы",
    "statement.sheet": "Акт",
    "statement.title": "Акт оказанных услуг по организации бесплатного питания",
    "statement.operator": "Оператор столовой (арендатор)",
    "statement.closed": "Период закрыт", "statement.open": "Период не закрыт (предварительный акт)",
    "statement.status": "Состояние периода", "statement.funding": "Источник финансирования",
    "statement.meals": "Количество порций", "statement.rate": "Тариф, ₸",
    "statement.adjustments": "Корректировки прошлых периодов",
    "statement.adj_day": "Исходная дата", "statement.adj_ref": "Исходная запись",
    "statement.adj_desc": "Описание", "statement.adj_month": "Из периода",
    "statement.adj_total": "Итого корректировок",
    "statement.accrued": "Начислено с учётом корректировок",
    "statement.paid": "Оплачено", "statement.outstanding": "Остаток к оплате",
    "statement.signatures": "Подписи", "statement.director": "Директор школы",
    "statement.accountant": "Бухгалтер", "statement.sign": "(подпись)",
    "statement.name": "(Ф.И.О.)", "statement.stamp": "М.П.",
    "register.title": "Электронный табель питания", "register.class": "Класс",
    "register.pupil": "Учащийся", "register.child_id": "ID",
    "register.legend": "Условные обозначения",
    "register.per_day": "По дням: {what}", "register.per_pupil": "По учащемуся",
    "mark.funded": "Бесплатно (финансируется)", "mark.paid": "Платно", "mark.refused": "Отказ",
    "mark.absent": "Отсутствовал", "mark.unfunded": "Не финансируется",
    "code.funded": "Б", "code.paid": "П", "code.refused": "О", "code.absent": "Н",
    "code.unfunded": "НФ",
    "free.sheet": "Отчёт", "free.dishes_sheet": "Меню",
    "free.title": "Ежемесячный отчёт о бесплатном и льготном питании (приказ № 456, п. 9)",
    "free.category": "Категория", "free.pupils": "Количество учащихся",
    "free.meals": "Количество порций", "free.dish": "Наименование блюда",
    "free.price": "Цена, ₸", "free.free_meal": "Бесплатное питание",
    "category.universal": "Всеобщее (1–4 классы)", "category.large_family": "Многодетная семья",
    "category.incomplete_family": "Неполная семья",
    "category.dysfunctional_family": "Неблагополучная семья",
    "category.divorced_parents": "Родители в разводе",
    "category.low_income": "Малообеспеченная семья", "category.home_schooled": "Обучение на дому",
    "category.disability": "С инвалидностью", "category.guardianship": "Под опекой",
    "category.targeted_social_assistance": "Получатель АСП",
    "attendance.days_sheet": "По дням", "attendance.entries_sheet": "Вход-выход",
    "attendance.title": "Ежемесячный отчёт о посещаемости (приказ № 456, п. 12)",
    "attendance.kind": "Категория", "attendance.person": "Лицо", "attendance.person_id": "ID",
    "attendance.first_in": "Первый вход", "attendance.last_out": "Последний выход",
    "attendance.pupils_present": "Присутствовало учащихся",
    "attendance.staff_present": "Присутствовало сотрудников",
    "attendance.time_zone": "Время: время Казахстана (UTC+5)",
    "kind.pupil": "Учащийся", "kind.staff": "Сотрудник",
    "savings.sheet": "Экономия", "savings.districts_sheet": "Районы",
    "savings.monthly_sheet": "По месяцам",
    "savings.title": "Экономия бюджетных средств: план и факт",
    "savings.planned": "План (по спискам), ₸", "savings.actual": "Факт (выдано питания), ₸",
    "savings.saving": "Экономия, ₸", "savings.percent": "Экономия, %", "savings.month": "Месяц",
    "savings.school_id": "Код школы", "savings.chart": "План и факт по школам",
    "savings.planned_short": "План", "savings.actual_short": "Факт",
}

MONTHS: dict[Lang, tuple[str, ...]] = {
    "kk": ("қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз",
           "қыркүйек", "қазан", "қараша", "желтоқсан"),
    "ru": ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август",
           "сентябрь", "октябрь", "ноябрь", "декабрь"),
}

_TABLES: dict[Lang, dict[str, str]] = {"kk": KK, "ru": RU}


def check_lang(lang: str) -> Lang:
    if lang not in _TABLES:
        raise ValueError(f"unsupported language {lang!r}: use 'kk' (Kazakh) or 'ru' (Russian)")
    return lang


def label(key: str, lang: Lang, **fmt: str) -> str:
    try:
        text = _TABLES[check_lang(lang)][key]
    except KeyError:
        raise KeyError(f"no {lang} label for {key!r}: add it to exports/labels.py") from None
    return text.format(**fmt) if fmt else text


def month_name(month: str, lang: Lang) -> str:
    """'2025-09' -> 'қыркүйек 2025 ж.' / 'сентябрь 2025 г.'."""
    year, num = month.split("-")
    suffix = "ж." if lang == "kk" else "г."
    return f"{MONTHS[lang][int(num) - 1]} {year} {suffix}"


def category_label(category: str, lang: Lang) -> str:
    """Known social category codes are translated; anything else is printed as given."""
    key = f"category.{category}"
    return _TABLES[check_lang(lang)].get(key, category)
