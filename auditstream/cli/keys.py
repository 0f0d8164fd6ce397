"""`auditstream keys`: create, rotate and publish keys."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from auditstream.errors import ConfigError
from auditstream.privacy.vault import LocalKek, SubjectVault
from auditstream.settings import keyfiles


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="create, rotate and publish keys")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    generate = actions.add_parser(
        "generate", help="create an HMAC keyring, a checkpoint signing key, a dead-letter key"
    )
    generate.add_argument("--hmac", type=Path, help="keyring file to create (with --signer)")
    generate.add_argument("--hmac-id", default="k1", help="id of the first HMAC key")
    generate.add_argument("--signer", type=Path, help="signer key file to create (with --hmac)")
    generate.add_argument(
        "--name", default="auditstream-checkpoints", help="checkpoint key name (no spaces or '+')"
    )
    generate.add_argument(
        "--content", type=Path, help="also create a content-digest salt keyring (for producers)"
    )
    generate.add_argument(
        "--dead-letter",
        type=Path,
        help="also create a dead-letter key pair: this private file for operators "
        "(`deadletter show`) and its .pub for the worker",
    )
    generate.add_argument("--dead-letter-id", default="dlq-1", help="id of the dead-letter key")
    generate.add_argument(
        "--subject-keks",
        type=Path,
        help="also create the keyring of key-encryption keys for the worker's subject vault",
    )
    generate.set_defaults(func=_generate)

    rotate = actions.add_parser("rotate", help="add a new active HMAC key; old ids still verify")
    rotate.add_argument("--hmac", type=Path, required=True, help="keyring file")
    rotate.add_argument("--id", required=True, help="id of the new key")
    rotate.set_defaults(func=_rotate)

    rewrap = actions.add_parser(
        "rewrap",
        help="wrap every subject key again under the active key-encryption key (after "
        "`keys rotate --hmac KEKS`)",
    )
    rewrap.add_argument("--subject-vault", type=Path, required=True, help="subject vault folder")
    rewrap.add_argument("--subject-keks", type=Path, required=True, help="KEK keyring file")
    rewrap.set_defaults(func=_rewrap)

    export = actions.add_parser(
        "export-public", help="print the checkpoint verifier (public) key for auditors"
    )
    export.add_argument("--signer", type=Path, required=True, help="signer key file")
    export.set_defaults(func=_export_public)


def _generate(args: argparse.Namespace) -> int:
    if (args.hmac is None) != (args.signer is None) or not (
        args.hmac or args.dead_letter or args.subject_keks
    ):
        raise ConfigError(
            "give --hmac and --signer together, and/or --dead-letter or --subject-keks"
        )
    if args.subject_keks:
        keyfiles.write_new_keyring(args.subject_keks, "kek-1")
        print(f"subject KEKs:   {args.subject_keks} (active key kek-1)")
    if args.dead_letter:
        keyfiles.write_new_dead_letter_key(args.dead_letter, args.dead_letter_id)
        print(f"dead letters:   {args.dead_letter} (private, for operators)")
        print(f"                {args.dead_letter}.pub (for the worker's --dead-letter-key)")
    if args.hmac is None:
        return 0
    keyfiles.write_new_keyring(args.hmac, args.hmac_id)
    signer = keyfiles.write_new_signer(args.signer, args.name)
    print(f"HMAC keyring:   {args.hmac} (active key {args.hmac_id})")
    print(f"signer key:     {args.signer}")
    if args.content:
        keyfiles.write_new_keyring(args.content, "salt-1")
        print(f"content salts:  {args.content} (active key salt-1)")
    print(f"verifier key:   {signer.verifier.encode()}")
    return 0


def _rewrap(args: argparse.Namespace) -> int:
    if not args.subject_vault.is_dir():
        raise ConfigError(f"no subject vault at {args.subject_vault}")
    keks = keyfiles.load_keyring(args.subject_keks)
    count = SubjectVault(args.subject_vault, LocalKek(keks)).rewrap()
    print(f"{args.subject_vault}: {count} key(s) wrapped again under {keks.active.key_id}")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    keyfiles.rotate_keyring(args.hmac, args.id)
    print(f"{args.hmac}: key {args.id} added and active; earlier keys kept for verification")
    return 0


def _export_public(args: argparse.Namespace) -> int:
    print(keyfiles.load_signer(args.signer).verifier.encode())
    return 0
