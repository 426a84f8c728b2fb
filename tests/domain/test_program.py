import hashlib

import pytest

from fidela.domain.errors import ProgramInvalid
from fidela.domain.program import inactive_sections, parse_program
from tests.conftest import EXAMPLES, example


@pytest.mark.parametrize("name", ["cafe.yaml", "shop.yaml", "cafe-usd.yaml"])
def test_example_files_are_accepted_unchanged(name: str) -> None:
    program = parse_program(example(name))
    assert program.earn


# The specification's files, byte for byte: the copies here must never be edited.
SPECIFIED = {
    "cafe.yaml": "662f6a28927c8a240cb09f763ce6695ca9d34649cb9dd72579995fd154e7e669",
    "shop.yaml": "6708fe362c15c2a33a75f34ba6121ea6bda69866749ee2f9be9a7901d1c30e28",
}


@pytest.mark.parametrize("name", sorted(SPECIFIED))
def test_the_example_files_are_the_specifications_unchanged(name: str) -> None:
    assert hashlib.sha256((EXAMPLES / name).read_bytes()).hexdigest() == SPECIFIED[name]


def test_a_file_with_three_mistakes_gets_three_located_errors() -> None:
    text = (
        example("cafe.yaml")
        .replace("points_per_unit: 1 ", "points_per_unit: 0 ")
        .replace("rounding: floor", "rounding: flor")
        .replace("cost: 40", "cost: -40")
    )
    with pytest.raises(ProgramInvalid) as caught:
        parse_program(text)
    shown = [str(problem) for problem in caught.value.problems]
    assert shown == [
        "earn[0].points_per_unit (line 17): must be greater than 0",
        "earn[0].rounding (line 18): must be 'floor', 'round' or 'ceil'",
        "rewards[1].cost (line 48): must be greater than 0",
    ]


def test_an_unknown_key_is_an_error_not_ignored() -> None:
    with pytest.raises(ProgramInvalid, match=r"earn\[1\].every_nht.*unknown key"):
        parse_program(example("cafe.yaml").replace("every_nth: 10", "every_nht: 10"))


def test_only_the_core_sections_are_required() -> None:
    program = parse_program(
        "program: tiny\nname: Tiny\ncurrency: EUR\ntimezone: UTC\n"
        "earn:\n  - {id: base, when: purchase, points_per_unit: 1}\n"
    )
    assert program.tiers is None and program.expiry is None and program.rewards == ()
    with pytest.raises(ProgramInvalid) as caught:
        parse_program("name: Tiny\n")
    missing = {p.location for p in caught.value.problems}
    assert missing == {"program", "currency", "timezone", "earn"}


def test_bad_values_name_their_field() -> None:
    with pytest.raises(ProgramInvalid) as caught:
        parse_program(
            example("cafe.yaml")
            .replace("currency: EUR", "currency: EURO")
            .replace("timezone: Europe/Paris", "timezone: Mars/Olympus")
        )
    located = {p.location: p.message for p in caught.value.problems}
    assert "ISO 4217" in located["currency"]
    assert "IANA" in located["timezone"]


def test_invalid_yaml_is_reported_with_its_line() -> None:
    with pytest.raises(ProgramInvalid) as caught:
        parse_program("program: x\nearn: [\n")
    assert caught.value.problems[0].line is not None


def test_both_example_programs_are_fully_active() -> None:
    assert inactive_sections(parse_program(example("cafe.yaml"))) == []
    assert inactive_sections(parse_program(example("shop.yaml"))) == []


def test_points_can_pay_only_in_a_program_where_they_are_worth_something() -> None:
    text = example("shop.yaml").replace('point_value: "0.01"', 'point_value: "0"')
    with pytest.raises(ProgramInvalid, match="points can pay only with a point_value"):
        parse_program(text)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("{id: x, when: purchase, every_nth: 3, points_per_unit: 1}", "every_nth grants fixed"),
        ("{id: x, when: purchase, points: 5, category: tea}", "apply only to points_per_unit"),
        ("{id: x, when: review, points_per_unit: 1}", "applies only to rules with when: purchase"),
        ("{id: x, when: purchase}", "needs exactly one of points_per_unit or points"),
    ],
)
def test_rules_that_could_not_be_applied_are_refused(rule: str, reason: str) -> None:
    text = f"program: p\nname: P\ncurrency: EUR\ntimezone: UTC\nearn:\n  - {rule}\n"
    with pytest.raises(ProgramInvalid) as caught:
        parse_program(text)
    assert caught.value.problems[0].location == "earn[0]"
    assert reason in caught.value.problems[0].message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "memberships:\n  - {id: base, name: B, fee: '1.00', period: month}\n",
            "id base is also in earn",
        ),
        (
            "challenges:\n  - {id: referral, name: R, when: review, count: 2, within: month}\n",
            "kept for referral rewards",
        ),
    ],
)
def test_ids_naming_ledger_lines_differ_across_sections(extra: str, message: str) -> None:
    with pytest.raises(ProgramInvalid, match=message):
        parse_program(example("cafe.yaml") + extra)
