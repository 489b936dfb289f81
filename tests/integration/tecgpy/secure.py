"""The secured broker of deploy/kafka/start --secure, for the tests.

TECG_KAFKA_SECURITY=sasl_ssl (with TECG_KAFKA_STATE, that broker's state
directory) runs the tests against it: every client logs in with SCRAM-SHA-512
over TLS as the user of its role, from the client files the start script
wrote into TECG_KAFKA_STATE/secure/clients. Unset (or "plaintext"): nothing
is added and the tests talk PLAINTEXT as before."""
import ctypes
import os
import subprocess

MODE = (os.environ.get("TECG_KAFKA_SECURITY") or "plaintext").lower()
SECURE = MODE == "sasl_ssl"
STATE = os.environ.get("TECG_KAFKA_STATE", "")
SECURE_DIR = os.path.join(STATE, "secure")

if MODE not in ("plaintext", "sasl_ssl"):
    raise RuntimeError(f"TECG_KAFKA_SECURITY={MODE}: want plaintext or sasl_ssl")
if SECURE and not os.path.isfile(os.path.join(SECURE_DIR, "admin.properties")):
    raise RuntimeError(f"TECG_KAFKA_SECURITY=sasl_ssl but {SECURE_DIR} holds no "
                       "secured broker (deploy/kafka/start --secure)")


def user_for(role, nation=None):
    """The SCRAM user of a role: "producer" (of `nation`), "aggregator",
    "dashboard", "ctl" (tecg-ctl, the operator's tool) or "admin" (what the
    tests' own Python clients use)."""
    if role == "producer":
        return f"producer-{nation}"
    if role in ("aggregator", "dashboard", "ctl", "admin"):
        return role
    raise ValueError(f"no Kafka user for role {role!r}")


def tecg_settings(user):
    """The kafka.* settings of a user's tecg config fragment, as a dict
    ({} without security)."""
    if not SECURE:
        return {}
    out = {}
    with open(os.path.join(SECURE_DIR, "clients", f"{user}.conf")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                out[k.strip()] = v.strip()
    return out


def librdkafka_settings(user="admin"):
    """The same settings for a confluent-kafka client (librdkafka names)."""
    return {k[len("kafka."):]: v for k, v in tecg_settings(user).items()}


def password(user):
    """A user's password, for tests that need a wrong or a right one."""
    with open(os.path.join(SECURE_DIR, "passwords")) as f:
        for line in f:
            u, _, p = line.strip().partition(" ")
            if u == user:
                return p
    raise KeyError(user)


# SCRAM-SHA-512 against Kafka 4 needs librdkafka 2.6.1 or later (earlier
# ones send a client-final nonce Kafka 4 rejects: "invalid credentials").
SCRAM_MIN_RDKAFKA = 0x020601ff
_rdkafka_versions = {}


def rdkafka_version(binary):
    """The rd_kafka_version() of the librdkafka `binary` loads at run time
    (through ldd: the soname is shared by every version, so the library
    found at run time is what counts, not the headers it was built with)."""
    if binary not in _rdkafka_versions:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        path = next((ln.split("=>")[1].split()[0] for ln in out.splitlines()
                     if "librdkafka.so" in ln and "=>" in ln), None)
        _rdkafka_versions[binary] = ctypes.CDLL(path).rd_kafka_version() if path else 0
    return _rdkafka_versions[binary]


def scram_problem(binary):
    """Why `binary` cannot log in to the secured broker, or None."""
    v = rdkafka_version(binary)
    if v >= SCRAM_MIN_RDKAFKA:
        return None
    return (f"{os.path.basename(binary)} loads librdkafka {v >> 24}.{(v >> 16) & 0xff}."
            f"{(v >> 8) & 0xff}: SCRAM-SHA-512 to Kafka 4 needs 2.6.1 or later")
