"""Realistic credentials in the places audit events carry them, per rule family, and
near misses that must stay as they are. Shared by the unit, property and end-to-end
tests. Every value was generated at random for this corpus; none is a live credential
(the AWS, Stripe and JWT shapes follow their vendors' documented formats).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from auditstream.core.validate import MAX_SUBJECT_ID
from auditstream.proto.v1 import log_entry_pb2 as pb


@dataclass(frozen=True)
class Secret:
    family: str
    text: str  # the secret in its usual context
    secret: str  # what must not survive masking

    @property
    def bare(self) -> bool:
        """Whether the secret is found without any context around it."""
        return self.text == self.secret


def _s(family: str, secret: str, text: str | None = None) -> Secret:
    return Secret(family, secret if text is None else text.format(secret), secret)


AWS_ID = "AKIAGPRQSE4T5ZZHQOUW"
AWS_SECRET = "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"
PEM_BODY = (
    "MIIEowIBAAKCAQEAvN8hZ0mOaJ4Kx2G7Xy1QbW3p5Rr9Tt6Uu0Vv8Ww1Xx2Yy3Zz4Aa5Bb6Cc7Dd8Ee9Ff0\n"
    "Gg1Hh2Ii3Jj4Kk5Ll6Mm7Nn8Oo9Pp0Qq1Rr2Ss3Tt4Uu5Vv6Ww7Xx8Yy9Zz0Aa1Bb2Cc3Dd4Ee5Ff6Gg7"
)

POSITIVE: tuple[Secret, ...] = (
    # cloud: AWS
    _s("aws", AWS_ID, "key {} used by the deploy role"),
    _s("aws", "ASIAQXJKRKAEHVBFRNYZ"),
    _s("aws", AWS_SECRET, f"credentials {AWS_ID} / {{}}"),
    _s("aws", AWS_SECRET, f"{AWS_ID}:{{}}"),
    _s("aws", AWS_SECRET, "aws_secret_access_key = {}"),
    _s("aws", AWS_SECRET, '{{"AccessKeyId": "ASIAQXJKRKAEHVBFRNYZ", "SecretAccessKey": "{}"}}'),
    # cloud: GCP
    _s("gcp", "AIza5-is-I4cZ2cSV8HTMyf8GmXmeyNdaKTGoes", "maps key={} rejected"),
    _s(
        "gcp",
        PEM_BODY.splitlines()[0],
        '{{"type": "service_account", "project_id": "acme-prod", "private_key": '
        '"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n"}}',
    ),
    _s("gcp", "ya29.a0AfB_byC3Ld9xQ2mN7pR4sT6vW8yZ0bE5gH", "Authorization token {}"),
    # cloud: Azure
    _s(
        "azure",
        "zaDGHxFAQLVeuzU+XFXO+eF28RlHnqzgsBH+5qWgnGV21q4ClswscCTf07I8PjUhmi2ogviaNfrWta57/cLkIF==",
        "DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey={};"
        "EndpointSuffix=core.windows.net",
    ),
    _s(
        "azure",
        "sRLPGaJYpUa7w5h2hzyCswU7vbqis9KZXTt9nHL15Cb%3D",
        "GET https://acmelogs.blob.core.windows.net/audit/x.json?sv=2022-11-02&ss=b&srt=o"
        "&sp=r&se=2026-12-31T00:00:00Z&sig={}",
    ),
    _s(
        "azure",
        "aFq8Q~Zr4sT6vW8yZ0bE5gH2jK4mN6pR8tV0xY2",
        "client secret {} set for app acme-sso",
    ),
    # version control
    _s("vcs", "ghp_5PeCvKyYMBqRW9AmYby3TEpy0HhWo0pmq23e", "git clone https://{}@github.com/acme/x"),
    _s("vcs", "gho_pYfD3QJdbmRZRMPsXBDo5VeOeTTlTxDSmygM"),
    _s("vcs", "ghs_xEnWRwvFI1tdlNODi520rE5tIdjdHbRtFxOs"),
    _s("vcs", "ghr_xQ9VliZbnGXei4Lo53t2zLE0MZwlwp23JOwv"),
    _s(
        "vcs",
        "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",
    ),
    _s("vcs", "glpat-iUpRIv69mTf5ObhWzFnT", "GITLAB_TOKEN {}"),
    # chat
    _s("chat", "xoxb-824602165738-6288643432143-GOdnjnzqhooamVRQXtc5rJpo"),
    _s("chat", "xoxp-523042086847-730727343894-1760785654858-20a2756e8efcc0c72926fdeabcf8c8b5"),
    _s("chat", "https://hooks.slack.com/services/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"),
    _s(
        "chat",
        "2ybqnMPcfy7PxFKI81y-Bx_DI9ufkXQ_xx3OK2RagTeFdchQjuQ-WWqQYypqWZzMpTiN",
        "posting to https://discord.com/api/webhooks/620559969690870001/{}",
    ),
    # payments
    _s("payments", "sk_live_OG5rQJs9Cpc7V4MOChy4hyyv", "stripe.api_key set: {}"),
    _s("payments", "rk_live_h8vfsPVot30n1guFTD6WdrJs"),
    _s("payments", "whsec_Js8J6ivJ907StqREfgCE9WratP86yr3u"),
    _s("payments", "EAAAstkIvz-zZJX0Omn9PoD1vZ5dGTN83ZJH7YxLA60W5Jxf9KqnCecvpspE-AvB"),
    _s("payments", "sq0atp-e8Pqd05ovm_CvzO9RuqVH-"),
    _s("payments", "sq0csp-HC3LEGTjey4YKicc7-9CzjV1bqPZLL3fahXeh4FeshI"),
    _s("payments", "access_token$production$t9g79hz6kfi4aqpy$e09d39205a1e3d244d2217b77427765a"),
    # messaging
    _s("messaging", "SK9f6511c3c8e3cfea0b714ba0d6c08411", "twilio {} revoked"),
    _s("messaging", "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"),
    _s("messaging", "key-2f207a5ebf6e1c4459f4d725ffc86f4c", "mailgun {}"),
    # AI providers
    _s(
        "ai",
        "sk-proj--CTWDqpBX6wouqiNDV0NfBu6q3DsWV-vIozXqmHSZku76MpoeHsRyaNk85T3BlbkFJ48AaAjJtRefi"
        "O7BMYBxqnHIyCNxGBYIIYDIhTMGGnIxIt-D4ywf7RHYToK",
        "OPENAI_API_KEY {}",
    ),
    _s("ai", "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"),
    _s(
        "ai",
        "sk-ant-api03-W19LS-TL4B7Vy5geP5548ayLTj2Lg0YJ8AGjf2bN4U1yh-CVKGYvzlQSAnfNQD4vBlpe9ApDwdc"
        "u-sjbtrhaAyYzeifiFAA",
    ),
    _s("ai", "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", "model pull with {}"),
    _s("ai", "AIzaSyC8kP3mQ7vN2xR5tW9yB4dF6hJ1lZ0aE3g", "gemini key {}"),
    # PEM private keys, every type, and one cut off
    *(
        _s(
            "pem",
            f"-----BEGIN {kind}PRIVATE KEY{block}-----\n{PEM_BODY}\n"
            f"-----END {kind}PRIVATE KEY{block}-----",
        )
        for kind, block in (
            ("", ""),
            ("RSA ", ""),
            ("EC ", ""),
            ("DSA ", ""),
            ("OPENSSH ", ""),
            ("ENCRYPTED ", ""),
            ("PGP ", " BLOCK"),
        )
    ),
    _s("pem", PEM_BODY, "key dump: -----BEGIN RSA PRIVATE KEY-----\n{}"),
    # tokens in headers and URLs
    _s(
        "jwt",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTQ4MjEiLCJpYXQiOjE3NjcyMjU2MDB9."
        "Yl2BGRTeNZNccameM_rO9stu6hrYvHPHBSTWudhUOGz",
        "session {} issued",
    ),
    _s("authorization", "y_Y48gVIVsHlxVfV9B9IoLi7ff9hoExUQyZcWYml", "Authorization: Bearer {}"),
    _s("authorization", "y_Y48gVIVsHlxVfV9B9IoLi7ff9hoExUQyZcWYml", "sent bearer {} upstream"),
    _s("authorization", "YWRtaW46czNjcjN0LXBhc3M=", "Authorization: Basic {}"),
    _s("authorization", "YWRtaW46czNjcjN0LXBhc3M=", "proxy said basic {}"),
    _s("authorization", "8c2d4e6f8a0b", "authorization=Token {}"),
    _s("url", "jkmf4tR6KR6Vzv", "connecting to postgres://audit:{}@db.internal:5432/audit"),
    _s("url", "jkmf4tR6KR6Vzv", "mongodb+srv://svc:{}@cluster0.example.net/app"),
    _s("url", "jkmf4tR6KR6Vzv", "broker redis://:{}@cache:6379/0"),
    _s("url", "jkmf4tR6KR6Vzv", "amqp://guest:{}@rabbit/vhost"),
    _s("connection", "Pa55w0rd!", "Server=db1;Database=audit;User Id=sa;Password={};"),
    _s("connection", "s3cr3t", "jdbc:postgresql://db/app?user=app&password={}&ssl=true"),
    _s(
        "connection",
        "kafka-s3cret",
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="svc" password="{}";',
    ),
    # any value whose key names a secret, whatever it looks like
    _s("named", "hunter2", "password=hunter2".replace("hunter2", "{}")),
    _s("named", "abc", "pwd=abc".replace("abc", "{}")),
    _s("named", "letmein", "PWD: {}"),
    _s("named", "open sesame", 'passwd: "{}"'),
    _s("named", "x1", "db_pass={}"),
    _s("named", "tok3n-value", "token={} refreshed"),
    _s("named", "qwerty", "client_secret: {}"),
    _s("named", "9f8e7d6c", "X-Api-Key: {}"),
    _s("named", "9f8e7d6c", "apiKey={}"),
    _s("named", "9f8e7d6c", "access_key = {}"),
    _s("named", "mykey", "private_key={}"),
    _s("named", "admin:admin", "credentials={}"),
    _s("named", "s3cr3t", '{{"client_secret": "{}"}}'),
    # JSON inside a JSON string, as tool-call arguments come: the quotes are escaped.
    Secret(
        "named",
        json.dumps({"arguments": json.dumps({"client_secret": "Vb7-escaped-Q2x"})}),
        "Vb7-escaped-Q2x",
    ),
    # card numbers
    _s("card", "4111 1111 1111 1111", "charged card {}"),
    _s("card", "5500005555555559"),
    _s("card", "3782 822463 10005"),
    _s("card", "4111-1111-1111-1111"),
)

# Texts that look like a family but are not a secret of it.
NEGATIVE: dict[str, tuple[str, ...]] = {
    "aws": ("AKIA123", "akiagprqse4t5zzhquow lowercase", "arn:aws:iam::123456789012:role/x"),
    "gcp": ("AIza-short", '{"type": "service_account", "private_key_id": "1a2b3c"}'),
    "azure": ("AccountName=acmelogs;EndpointSuffix=core.windows.net", "sig=ok"),
    "vcs": ("ghp_short", "github_pat_", "glpat-abc"),
    "chat": ("xoxb-", "https://hooks.slack.com/", "https://discord.com/channels/1/2"),
    "payments": ("sk_live_", "sk_test_ab", "whsec_x"),
    "messaging": ("SK1234", "SG.abc", "key-pending"),
    "ai": ("sk-", "hf_abc", "sk-ant-"),
    "pem": (
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+g\n-----END CERTIFICATE-----",
    ),
    "jwt": ("eyJ.eyJ.x", "header.payload.signature"),
    "authorization": (
        "bearer of bad news",
        "Bearer short",
        "Basic authentication enabled",
        "basic plan selected",
    ),
    "url": ("https://example.com/a:b", "https://api.example.com/v1/users/42", "user@example.com"),
    "connection": ("Server=db1;Database=audit;User Id=sa;", "jdbc:postgresql://db/app?ssl=true"),
    "named": (
        "password reset requested",
        "max_tokens=1000",
        "input_tokens: 52",
        "token_type: bearer",
        "password_changed_at=2026-01-01T00:00:00Z",
        "keyboard layout=en",
        "secret_name=prod/db",
        "password=",
    ),
    "card": ("4111 1111 1111 1112", "1234 5678 9012 3456", "order 12345678901234 shipped"),
}

# Personal data: detected and tagged, not masked.
PERSONAL: dict[str, tuple[str, ...]] = {
    "email": ("contact jane.doe+audit@example.co.uk now", "x@y.io"),
    "phone": ("call +1 415 555 0100", "+44 20 7946 0958", "+4915112345678"),
    "us_ssn": ("ssn 123-45-6789 on file",),
    "uk_nino": ("NI number AB 12 34 56 C", "AB123456C", "AB 12 3456 C"),
    "iban": ("IBAN DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"),
    "ipv4": ("from 203.0.113.42 port", "10.1.2.3"),
    "ipv6": ("peer 2001:db8::1 connected", "fe80:0:0:0:0:0:0:1", "::ffff:c000:280"),
    "medical_record": ("MRN: 00123456 admitted",),
}
PERSONAL_NEGATIVE: dict[str, tuple[str, ...]] = {
    "email": ("user at example dot com", "@handle", "foo@bar"),
    "phone": ("version 1.2.3", "call 555", "+12"),
    "us_ssn": ("000-12-3456", "666-12-3456", "123-00-4567", "912-34-5678", "123456789"),
    "iban": ("DE89 3704 0044 0532 0130 01", "XX00"),
    "ipv4": ("256.1.1.1", "127.0.0.1", "0.0.0.0", "1.2.3"),
    "ipv6": ("12:30:45", "::1", "dead:beef"),
    "medical_record": ("MRN pending",),
    "uk_nino": ("QQ123456C", "AB123456E"),
}


def fill_every_text_field(entry: pb.LogEntry, text: str) -> list[str]:
    """Put `text` into every string field a LogEntry has (bar the identity fields, and
    subject_ids where `text` is not a valid subject id), at any depth; the names of the
    fields filled."""
    filled: list[str] = []

    def fill(message: Message, path: str) -> None:
        for descriptor in message.DESCRIPTOR.fields:
            where = f"{path}.{descriptor.name}" if path else descriptor.name
            if where in ("event_id", "tenant_id", "payload_content_type"):
                continue
            if where == "subject_ids" and not (len(text) <= MAX_SUBJECT_ID and text.isprintable()):
                continue  # the worker refuses such a subject id (a dead letter)
            if descriptor.type == FieldDescriptor.TYPE_STRING:
                target = getattr(message, descriptor.name)
                if descriptor.is_repeated:
                    target.append(text)
                else:
                    setattr(message, descriptor.name, text)
                filled.append(where)
            elif descriptor.type == FieldDescriptor.TYPE_MESSAGE:
                kind = descriptor.message_type.full_name
                if kind == "google.protobuf.Struct":
                    struct = (
                        getattr(message, descriptor.name).add()
                        if descriptor.is_repeated
                        else getattr(message, descriptor.name)
                    )
                    struct.update({"note": text, "nested": [{"deep": text}]})
                    filled.append(where)
                elif kind.startswith("auditstream.") and where.count(".") < 3:
                    child = getattr(message, descriptor.name)
                    fill(child.add() if descriptor.is_repeated else child, where)

    fill(entry, "")
    return filled
