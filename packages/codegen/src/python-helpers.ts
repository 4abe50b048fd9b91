// The Python helper functions a compiled plan may call, each emitted only when a step needs it,
// always in this order (deterministic output). Plain code for the strictest static policy: only
// module-top imports of re, hashlib, datetime, decimal, zoneinfo; no dunders, no getattr, no classes.

export interface Helper {
  imports: string[];
  deps: string[];
  source: string;
}

const UTC = 'datetime.timezone.utc';

export const HELPERS: Record<string, Helper> = {
  text: {
    imports: ['datetime'],
    deps: [],
    source: `def text(v):
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime.date):
        return v.isoformat()
    return str(v)
`,
  },
  is_missing: {
    imports: [],
    deps: [],
    source: `def is_missing(v, blank):
    if v is None:
        return True
    return blank and isinstance(v, str) and v.strip() == ""
`,
  },
  parse_decimal: {
    imports: ['re', 'decimal'],
    deps: [],
    source: `NUMBER_RE = re.compile(r"[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?")
GROUPED_RE = re.compile(r"[+-]?\\d{1,3}(?:,\\d{3})+(?:\\.\\d*)?")


def parse_decimal(v):
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, decimal.Decimal)):
        return decimal.Decimal(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return None
        return decimal.Decimal(repr(v))
    s = str(v).strip()
    for symbol in ("$", "\\u20ac", "\\u00a3"):
        if s.startswith(symbol):
            s = s[1:].strip()
        elif s.startswith("-" + symbol):
            s = "-" + s[2:].strip()
    if GROUPED_RE.fullmatch(s):
        s = s.replace(",", "")
    if not NUMBER_RE.fullmatch(s):
        return None
    return decimal.Decimal(s)
`,
  },
  compare: {
    imports: [],
    deps: [],
    source: `def compare(a, op, b):
    if a is None or b is None:
        return False
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b
`,
  },
  isin: {
    imports: [],
    deps: [],
    source: `def isin(v, values, negate):
    if v is None:
        return False
    return (v not in values) if negate else (v in values)
`,
  },
  text_match: {
    imports: ['re'],
    deps: [],
    source: `def text_match(s, kind, value, ignore_case, negate):
    if s is None:
        return False
    if kind == "regex":
        found = re.search(value, s, re.IGNORECASE if ignore_case else 0) is not None
    else:
        if ignore_case:
            s = s.lower()
            value = value.lower()
        if kind == "contains":
            found = value in s
        elif kind == "starts_with":
            found = s.startswith(value)
        else:
            found = s.endswith(value)
    return not found if negate else found
`,
  },
  parse_bool: {
    imports: [],
    deps: [],
    source: `TRUE_WORDS = ("true", "t", "yes", "y", "1", "on")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off")


def parse_bool(v):
    if v is None or isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in TRUE_WORDS:
        return True
    if s in FALSE_WORDS:
        return False
    return None
`,
  },
  parse_int: {
    imports: [],
    deps: ['parse_decimal'],
    source: `def parse_int(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    d = parse_decimal(v)
    if d is None or d != d.to_integral_value():
        return None
    return int(d)
`,
  },
  quantize: {
    imports: ['decimal'],
    deps: [],
    source: `def quantize(d, scale):
    if d is None:
        return None
    try:
        return d.quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP)
    except decimal.InvalidOperation:
        return None
`,
  },
  parse_date: {
    imports: ['re', 'datetime'],
    deps: [],
    source: `MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
ISO_DATE_RE = re.compile(r"(\\d{4})[-/.](\\d{1,2})[-/.](\\d{1,2})(?:[ T]\\d{1,2}:\\d{2}.*)?")
COMPACT_DATE_RE = re.compile(r"(\\d{4})(\\d{2})(\\d{2})")
SLASH_DATE_RE = re.compile(r"(\\d{1,2})[-/.](\\d{1,2})[-/.](\\d{4})")
DAY_MONTH_RE = re.compile(r"(\\d{1,2})(?:st|nd|rd|th)?\\s+([A-Za-z]+)\\.?,?\\s+(\\d{4})")
MONTH_DAY_RE = re.compile(r"([A-Za-z]+)\\.?\\s+(\\d{1,2})(?:st|nd|rd|th)?,?\\s+(\\d{4})")


def make_date(y, m, d):
    try:
        return datetime.date(int(y), int(m), int(d))
    except ValueError:
        return None


def month_number(name):
    return MONTHS.get(name[:3].lower()) if len(name) >= 3 else None


def parse_date(v, day_first):
    if v is None:
        return None
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).date() if v.tzinfo else v.date()
    if isinstance(v, datetime.date):
        return v
    if not isinstance(v, str):
        return None
    s = v.strip()
    m = ISO_DATE_RE.fullmatch(s) or COMPACT_DATE_RE.fullmatch(s)
    if m:
        return make_date(m.group(1), m.group(2), m.group(3))
    m = SLASH_DATE_RE.fullmatch(s)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        if day_first is None:
            if a > 12 and b <= 12:
                day_first = True
            elif b > 12 and a <= 12:
                day_first = False
            else:
                return None
        return make_date(m.group(3), b, a) if day_first else make_date(m.group(3), a, b)
    m = DAY_MONTH_RE.fullmatch(s)
    if m and month_number(m.group(2)):
        return make_date(m.group(3), month_number(m.group(2)), m.group(1))
    m = MONTH_DAY_RE.fullmatch(s)
    if m and month_number(m.group(1)):
        return make_date(m.group(3), month_number(m.group(1)), m.group(2))
    return None
`,
  },
  zone: {
    imports: ['re', 'datetime'],
    deps: [],
    source: `OFFSET_RE = re.compile(r"([+-])(\\d{2})(?::?(\\d{2}))?")


def zone(name):
    if name.upper() in ("UTC", "Z", "GMT"):
        return ${UTC}
    m = OFFSET_RE.fullmatch(name)
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    if minutes >= 24 * 60:
        return None
    return datetime.timezone(datetime.timedelta(minutes=-minutes if m.group(1) == "-" else minutes))
`,
  },
  parse_ts: {
    imports: ['re', 'datetime'],
    deps: ['parse_date', 'zone'],
    source: `TS_RE = re.compile(
    r"(\\d{4})-(\\d{1,2})-(\\d{1,2})(?:[ T](\\d{1,2}):(\\d{2})(?::(\\d{2})(?:[.,](\\d{1,6})\\d*)?)?)?"
    r"\\s*(Z|UTC|GMT|[+-]\\d{2}(?::?\\d{2})?)?",
    re.IGNORECASE,
)


def parse_ts(v, default_zone):
    if v is None:
        return None
    if isinstance(v, datetime.date) and not isinstance(v, datetime.datetime):
        v = datetime.datetime(v.year, v.month, v.day)
    if isinstance(v, datetime.datetime):
        try:
            return (v if v.tzinfo else v.replace(tzinfo=default_zone)).astimezone(${UTC})
        except (OverflowError, ValueError):
            return None
    if not isinstance(v, str):
        return None
    s = v.strip()
    m = TS_RE.fullmatch(s)
    if not m:
        d = parse_date(s, None)
        return None if d is None else parse_ts(d, default_zone)
    fraction = (m.group(7) or "0").ljust(6, "0")
    try:
        value = datetime.datetime(
            int(m.group(1)), int(m.group(2)), int(m.group(3)),
            int(m.group(4) or 0), int(m.group(5) or 0), int(m.group(6) or 0), int(fraction),
        )
    except ValueError:
        return None
    tz = zone(m.group(8)) if m.group(8) else default_zone
    if tz is None:
        return None
    return parse_ts(value.replace(tzinfo=tz), default_zone)
`,
  },
  parse_when: {
    imports: ['re', 'datetime'],
    deps: ['parse_ts', 'parse_date'],
    source: `HAS_TIME_RE = re.compile(r".*\\d{4}-\\d{1,2}-\\d{1,2}[ T]\\d{1,2}:\\d{2}.*")


def parse_when(v):
    if isinstance(v, str) and HAS_TIME_RE.fullmatch(v.strip()):
        return parse_ts(v, ${UTC})
    if isinstance(v, datetime.datetime):
        return parse_ts(v, ${UTC})
    return parse_date(v, None)


def as_instant(v):
    w = parse_when(v)
    if w is None or isinstance(w, datetime.datetime):
        return w
    return datetime.datetime(w.year, w.month, w.day, tzinfo=${UTC})
`,
  },
  order_value: {
    imports: [],
    deps: ['parse_decimal'],
    source: `def order_value(v):
    if isinstance(v, str):
        d = parse_decimal(v)
        return (0, d, "") if d is not None else (1, 0, v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, v, "")
    return (1, 0, v)


def better(new, old, highest):
    if new is None:
        return False
    if old is None:
        return True
    a, b = order_value(new), order_value(old)
    return a > b if highest else a < b
`,
  },
  dedupe_key: {
    imports: ['re'],
    deps: [],
    source: `def dedupe_key(v, ignore_case, ignore_whitespace):
    if not isinstance(v, str):
        return v
    if ignore_whitespace:
        v = re.sub(r"\\s+", " ", v).strip()
    if ignore_case:
        v = v.lower()
    return v
`,
  },
  mask_value: {
    imports: [],
    deps: ['text'],
    source: `def mask_prefix(v, n):
    s = text(v)
    if s is None:
        return None
    return s[:n] + "*" * max(len(s) - n, 0)


def mask_email(v):
    s = text(v)
    if s is None:
        return None
    local, at, domain = s.strip().rpartition("@")
    if not at or not local:
        return "***"
    return "***@" + domain
`,
  },
  sha256_hex: {
    imports: ['hashlib'],
    deps: ['text'],
    source: `def sha256_hex(v):
    s = text(v)
    if s is None:
        return None
    return hashlib.sha256(s.strip().lower().encode("utf-8")).hexdigest()
`,
  },
  phone_e164: {
    imports: ['re'],
    deps: ['text'],
    source: `# country: (calling code, national trunk prefix, shortest and longest national number)
PHONE_COUNTRIES = {
    "US": ("1", "1", 10, 10), "CA": ("1", "1", 10, 10), "GB": ("44", "0", 9, 10),
    "DE": ("49", "0", 6, 13), "FR": ("33", "0", 9, 9), "NL": ("31", "0", 9, 9),
    "ES": ("34", "", 9, 9), "IT": ("39", "", 6, 11), "IN": ("91", "0", 10, 10),
    "AU": ("61", "0", 9, 9),
}
PHONE_EXTENSION_RE = re.compile(r"\\s*(?:ext\\.?|extension|x|#)\\s*\\d+$", re.IGNORECASE)
PHONE_CHARS_RE = re.compile(r"[0-9\\s().\\-/+]+")


def national_ok(country, digits):
    cc, trunk, shortest, longest = PHONE_COUNTRIES[country]
    if cc == "1" and (len(digits) != 10 or digits[0] in "01" or digits[3] in "01"):
        return False
    return shortest <= len(digits) <= longest


def phone_e164(v, country):
    s = text(v)
    if s is None:
        return None
    s = PHONE_EXTENSION_RE.sub("", s.strip()).replace("(0)", "")
    if not s or not PHONE_CHARS_RE.fullmatch(s) or s.count("+") > 1 or ("+" in s and not s.startswith("+")):
        return None
    digits = re.sub(r"\\D", "", s)
    international = s.startswith("+") or (s.startswith("00") and len(digits) > 10)
    if s.startswith("00") and not s.startswith("+"):
        digits = digits[2:]
    if international:
        for code, (cc, trunk, shortest, longest) in sorted(PHONE_COUNTRIES.items()):
            if digits.startswith(cc):
                return "+" + digits if national_ok(code, digits[len(cc):]) else None
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if country is None:
        return None
    cc, trunk, shortest, longest = PHONE_COUNTRIES[country]
    if trunk and digits.startswith(trunk) and national_ok(country, digits[len(trunk):]):
        return "+" + cc + digits[len(trunk):]
    if national_ok(country, digits):
        return "+" + cc + digits
    if digits.startswith(cc) and national_ok(country, digits[len(cc):]):
        return "+" + digits
    return None
`,
  },
  split_parts: {
    imports: [],
    deps: ['text'],
    source: `def split_parts(v, separator, n):
    s = text(v)
    if s is None:
        return [None] * n
    parts = s.strip().split(separator, n - 1) if separator is not None else s.split(None, n - 1)
    parts = [p.strip() for p in parts]
    return parts + [None] * (n - len(parts))
`,
  },
  concat_values: {
    imports: [],
    deps: ['text'],
    source: `def concat_values(values, separator):
    parts = [text(v) for v in values if v is not None]
    if not parts:
        return None
    return separator.join(parts)
`,
  },
  date_part: {
    imports: ['datetime'],
    deps: ['parse_when'],
    source: `def date_part(v, part):
    w = parse_when(v)
    if w is None:
        return None
    if part == "year":
        return w.year
    if part == "quarter":
        return (w.month - 1) // 3 + 1
    if part == "month":
        return w.month
    if part == "day":
        return w.day
    if part == "weekday":
        return w.isoweekday()
    if not isinstance(w, datetime.datetime):
        return 0
    return w.hour if part == "hour" else w.minute


def date_trunc(v, unit):
    w = parse_when(v)
    if w is None:
        return None
    day = 1 if unit == "month" else w.day
    if isinstance(w, datetime.datetime):
        return datetime.datetime(w.year, w.month, day, tzinfo=${UTC})
    return datetime.date(w.year, w.month, day)
`,
  },
  aggregates: {
    imports: ['decimal'],
    deps: ['parse_decimal'],
    source: `def numbers(values):
    out = []
    for v in values:
        if isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool):
            out.append(v)
        elif v is not None:
            d = parse_decimal(v)
            if d is not None:
                out.append(d)
    return out


def agg_sum(values):
    nums = numbers(values)
    return sum(nums) if nums else None


def agg_avg(values):
    nums = numbers(values)
    if not nums:
        return None
    if any(isinstance(n, float) for n in nums):
        return sum(nums) / len(nums)
    return decimal.Decimal(sum(nums)) / decimal.Decimal(len(nums))


def agg_min(values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def agg_max(values):
    present = [v for v in values if v is not None]
    return max(present) if present else None
`,
  },
};

export const HELPER_ORDER: string[] = Object.keys(HELPERS);
