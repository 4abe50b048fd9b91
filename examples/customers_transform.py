# The demo transform: normalise emails, drop rows without a usable email, keep one row per email.
# Runs inside the sandbox: plain Python, data modules only, no I/O.
import re

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


def transform(rows):
    seen = {}
    for row in rows:
        email = (row.get("email") or "").strip().lower()
        if not EMAIL.match(email):
            continue
        current = seen.get(email)
        if current is None or row["customer_id"] < current["customer_id"]:
            seen[email] = {
                "email": email,
                "customer_id": row["customer_id"],
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "phone": row["phone"],
                "country": row["country"],
                "created_at": row["created_at"],
                "lifetime_value": row["lifetime_value"],
            }
    return [seen[k] for k in sorted(seen)]
