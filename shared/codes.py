"""National code lists (DfE CIN census, RIIA) used as canonical enums; labels are for display.

Each enum value is the national code itself, so events and exports carry the code unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class ReferralSource(StrEnum):
    """CIN census referral/contact source (N00152), incl. 5D early help."""

    C1A = "1A"
    C1B = "1B"
    C1C = "1C"
    C1D = "1D"
    C2A = "2A"
    C2B = "2B"
    C3A = "3A"
    C3B = "3B"
    C3C = "3C"
    C3D = "3D"
    C3E = "3E"
    C3F = "3F"
    C4 = "4"
    C5A = "5A"
    C5B = "5B"
    C5C = "5C"
    C5D = "5D"
    C6 = "6"
    C7 = "7"
    C8 = "8"
    C9 = "9"
    C10 = "10"


class PrimaryNeed(StrEnum):
    """CIN census primary need code (N00101)."""

    N1 = "N1"
    N2 = "N2"
    N3 = "N3"
    N4 = "N4"
    N5 = "N5"
    N6 = "N6"
    N7 = "N7"
    N8 = "N8"
    N9 = "N9"
    N0 = "N0"


class ClosureReason(StrEnum):
    """CIN census reason for closure (N00103)."""

    RC1 = "RC1"
    RC2 = "RC2"
    RC3 = "RC3"
    RC4 = "RC4"
    RC5 = "RC5"
    RC6 = "RC6"
    RC7 = "RC7"
    RC8 = "RC8"
    RC9 = "RC9"


class WorkerChangeReason(StrEnum):
    """RIIA worker-change reason, used for transfers and handovers."""

    MANAGE = "MANAGE"
    FCONTA = "FCONTA"
    LEFTRL = "LEFTRL"
    ORGRST = "ORGRST"
    TSPROC = "TSPROC"
    ABSENC = "ABSENC"
    CHCHAN = "CHCHAN"
    PCCHAN = "PCCHAN"
    SWDIED = "SWDIED"
    OTHERS = "OTHERS"


class AssessmentFactor(StrEnum):
    """CIN census assessment factors (N00181); 21 must be used alone."""

    C1A = "1A"
    C1B = "1B"
    C1C = "1C"
    C2A = "2A"
    C2B = "2B"
    C2C = "2C"
    C3A = "3A"
    C3B = "3B"
    C3C = "3C"
    C4A = "4A"
    C4B = "4B"
    C4C = "4C"
    C5A = "5A"
    C5B = "5B"
    C5C = "5C"
    C6A = "6A"
    C6B = "6B"
    C6C = "6C"
    C7A = "7A"
    C8B = "8B"
    C8C = "8C"
    C8D = "8D"
    C8E = "8E"
    C8F = "8F"
    C9A = "9A"
    C10A = "10A"
    C11A = "11A"
    C12A = "12A"
    C13A = "13A"
    C14A = "14A"
    C15A = "15A"
    C16A = "16A"
    C17A = "17A"
    C18B = "18B"
    C18C = "18C"
    C19B = "19B"
    C19C = "19C"
    C20 = "20"
    C21 = "21"
    C22A = "22A"
    C23A = "23A"
    C24A = "24A"


class Sex(StrEnum):
    """CIN census sex (N00783)."""

    M = "M"
    F = "F"
    U = "U"


class Ethnicity(StrEnum):
    """DfE ethnicity codes (N00177)."""

    WBRI = "WBRI"
    WIRI = "WIRI"
    WIRT = "WIRT"
    WOTH = "WOTH"
    WROM = "WROM"
    MWBC = "MWBC"
    MWBA = "MWBA"
    MWAS = "MWAS"
    MOTH = "MOTH"
    AIND = "AIND"
    APKN = "APKN"
    ABAN = "ABAN"
    AOTH = "AOTH"
    BCRB = "BCRB"
    BAFR = "BAFR"
    BOTH = "BOTH"
    CHNE = "CHNE"
    OOTH = "OOTH"
    REFU = "REFU"
    NOBT = "NOBT"


LABELS: dict[type[StrEnum], dict[str, str]] = {
    ReferralSource: {
        "1A": "Individual - family member, relative or carer",
        "1B": "Individual - acquaintance (incl. neighbours, child minders)",
        "1C": "Individual - self",
        "1D": "Individual - other (incl. strangers, MPs)",
        "2A": "Schools",
        "2B": "Education services",
        "3A": "Health services - GP",
        "3B": "Health services - health visitor",
        "3C": "Health services - school nurse",
        "3D": "Health services - other primary health services",
        "3E": "Health services - A&E",
        "3F": "Health services - other (e.g. hospice)",
        "4": "Housing (LA housing or housing association)",
        "5A": "LA services - social care (e.g. adult social care)",
        "5B": "LA services - other internal (e.g. youth offending)",
        "5C": "LA services - external (another LA's services)",
        "5D": "LA services - early help",
        "6": "Police",
        "7": "Other legal agency (courts, probation, immigration, Cafcass, prison)",
        "8": "Other (children's centres, independent providers, voluntary organisations)",
        "9": "Anonymous",
        "10": "Unknown",
    },
    PrimaryNeed: {
        "N1": "Abuse or neglect",
        "N2": "Child's disability, illness or intrinsic condition",
        "N3": "Parental disability or illness",
        "N4": "Family in acute stress",
        "N5": "Family dysfunction",
        "N6": "Socially unacceptable behaviour",
        "N7": "Low income",
        "N8": "Absent parenting",
        "N9": "Cases other than children in need",
        "N0": "Not stated",
    },
    ClosureReason: {
        "RC1": "Adopted",
        "RC2": "Died",
        "RC3": "Child arrangements order",
        "RC4": "Special guardianship order",
        "RC5": "Transferred to another LA",
        "RC6": "Transferred to adult social care",
        "RC7": "Services ceased for any other reason, including child no longer in need",
        "RC8": "Case closed after assessment, no further action",
        "RC9": "Case closed after assessment, referred to early help",
    },
    WorkerChangeReason: {
        "MANAGE": "Managing caseloads",
        "FCONTA": "First contact or re-referral",
        "LEFTRL": "Previous social worker left the role",
        "ORGRST": "Organisational restructure",
        "TSPROC": "Child transferred as part of standard process (e.g. front door to long-term team)",
        "ABSENC": "Absence cover or return from absence",
        "CHCHAN": "Child asked for a change",
        "PCCHAN": "Parent or carer asked for a change",
        "SWDIED": "Previous social worker died",
        "OTHERS": "Other",
    },
    AssessmentFactor: {
        "1A": "Alcohol misuse - child",
        "1B": "Alcohol misuse - parent/carer",
        "1C": "Alcohol misuse - other person in household",
        "2A": "Drug misuse - child",
        "2B": "Drug misuse - parent/carer",
        "2C": "Drug misuse - other person in household",
        "3A": "Domestic violence - child subject",
        "3B": "Domestic violence - parent/carer subject",
        "3C": "Domestic violence - other person subject",
        "4A": "Mental health - child",
        "4B": "Mental health - parent/carer",
        "4C": "Mental health - other person in household",
        "5A": "Learning disability - child",
        "5B": "Learning disability - parent/carer",
        "5C": "Learning disability - other person in household",
        "6A": "Physical disability or illness - child",
        "6B": "Physical disability or illness - parent/carer",
        "6C": "Physical disability or illness - other person in household",
        "7A": "Young carer",
        "8B": "Privately fostered - overseas child who intends to return",
        "8C": "Privately fostered - overseas child who intends to stay",
        "8D": "Privately fostered - UK child in educational placement",
        "8E": "Privately fostered - UK child making alternative family arrangements",
        "8F": "Privately fostered - other",
        "9A": "Unaccompanied asylum seeking child",
        "10A": "Going/being missing",
        "11A": "Child sexual exploitation",
        "12A": "Trafficking",
        "13A": "Gangs",
        "14A": "Socially unacceptable behaviour",
        "15A": "Self-harm",
        "16A": "Neglect",
        "17A": "Emotional abuse",
        "18B": "Physical abuse - by a child",
        "18C": "Physical abuse - by an adult",
        "19B": "Sexual abuse - by a child",
        "19C": "Sexual abuse - by an adult",
        "20": "Other",
        "21": "No factors identified (must be used alone)",
        "22A": "Female genital mutilation",
        "23A": "Abuse linked to faith or belief",
        "24A": "Child criminal exploitation",
    },
    Sex: {
        "M": "Male",
        "F": "Female",
        "U": "Unknown or not recorded",
    },
    Ethnicity: {
        "WBRI": "White British",
        "WIRI": "White Irish",
        "WIRT": "Traveller of Irish heritage",
        "WOTH": "Any other White background",
        "WROM": "Gypsy/Roma",
        "MWBC": "White and Black Caribbean",
        "MWBA": "White and Black African",
        "MWAS": "White and Asian",
        "MOTH": "Any other mixed background",
        "AIND": "Indian",
        "APKN": "Pakistani",
        "ABAN": "Bangladeshi",
        "AOTH": "Any other Asian background",
        "BCRB": "Caribbean",
        "BAFR": "African",
        "BOTH": "Any other Black background",
        "CHNE": "Chinese",
        "OOTH": "Any other ethnic group",
        "REFU": "Refused",
        "NOBT": "Information not yet obtained",
    },
}


def label(code: StrEnum) -> str:
    """The national description of a code, for display and exports."""
    return LABELS[type(code)][code.value]


# Ofsted ILACS Annex A display forms ("a) Male", "q) 6: Police"): the national codes are stored, and
# mapped to these only on export. Letters follow the national lists' order; 5D (early help), a newer
# code, is "p1)" as in D2I's Annex A extract. No code maps to Annex A's "d) Neither" (the census
# sex has none) or D2I's "u) UNKNOWN" (an ethnicity not obtained is NOBT).
ANNEX_A_LABELS: dict[type[StrEnum], dict[str, str]] = {
    Sex: {
        "M": "a) Male",
        "F": "b) Female",
        "U": "c) Not stated/recorded",
    },
    Ethnicity: {
        "WBRI": "a) WBRI",
        "WIRI": "b) WIRI",
        "WIRT": "c) WIRT",
        "WOTH": "d) WOTH",
        "WROM": "e) WROM",
        "MWBC": "f) MWBC",
        "MWBA": "g) MWBA",
        "MWAS": "h) MWAS",
        "MOTH": "i) MOTH",
        "AIND": "j) AIND",
        "APKN": "k) APKN",
        "ABAN": "l) ABAN",
        "AOTH": "m) AOTH",
        "BCRB": "n) BCRB",
        "BAFR": "o) BAFR",
        "BOTH": "p) BOTH",
        "CHNE": "q) CHNE",
        "OOTH": "r) OOTH",
        "REFU": "s) REFU",
        "NOBT": "t) NOBT",
    },
    ReferralSource: {
        "1A": "a) 1A: Individual",
        "1B": "b) 1B: Individual",
        "1C": "c) 1C: Individual",
        "1D": "d) 1D: Individual",
        "2A": "e) 2A: Schools",
        "2B": "f) 2B: Education services",
        "3A": "g) 3A: Health services",
        "3B": "h) 3B: Health services",
        "3C": "i) 3C: Health services",
        "3D": "j) 3D: Health services",
        "3E": "k) 3E: Health services",
        "3F": "l) 3F: Health services",
        "4": "m) 4: Housing",
        "5A": "n) 5A: LA services",
        "5B": "o) 5B: LA services",
        "5C": "p) 5C: LA services",
        "5D": "p1) 5D: LA services",
        "6": "q) 6: Police",
        "7": "r) 7: Other legal agency",
        "8": "s) 8: Other",
        "9": "t) 9: Anonymous",
        "10": "u) 10: Unknown",
    },
}


def annex_a_label(code: StrEnum) -> str:
    """A code's Annex A display form (sex, ethnicity, contact or referral source)."""
    return ANNEX_A_LABELS[type(code)][code.value]


# --- Local front-door vocabulary (no national list exists); part of the event contract. ---------------


class DecisionOutcome(StrEnum):
    """Threshold decision outcomes: the union of the SSD contact and referral outcome categories."""

    NFA = "NFA"  # no further action
    INFO_ADVICE = "INFO_ADVICE"  # information and advice / signposting
    EARLY_HELP = "EARLY_HELP"  # early help / family help
    CIN_ASSESSMENT = "CIN_ASSESSMENT"  # referral for child and family assessment (s17)
    STRATEGY_S47 = "STRATEGY_S47"  # strategy discussion / s47
    EXISTING_OPEN_CASE = "EXISTING_OPEN_CASE"  # existing open case: passed to the allocated team
    OTHER = "OTHER"  # with a reason


# Outcomes that open a CIN referral: they need a manager's authorisation and a primary need code.
REFERRAL_OUTCOMES = frozenset({DecisionOutcome.CIN_ASSESSMENT, DecisionOutcome.STRATEGY_S47})


class FrontDoorClosure(StrEnum):
    """Closure at the front door, where no CIN episode was opened (no RC code applies).

    One code for each non-referral outcome, so every journey without a referral can be closed with a
    code saying what happened. At most 20 characters: the journeys' stored closure reason is."""

    FD_NFA = "FD_NFA"
    FD_ADVICE = "FD_ADVICE"
    FD_EARLY_HELP = "FD_EARLY_HELP"
    FD_EXISTING_CASE = "FD_EXISTING_CASE"  # passed to the team already working with the child
    FD_OTHER = "FD_OTHER"  # after an OTHER outcome (its reason is on the decision)


# The threshold decision each front-door closure code records the end of: a journey closes at the front
# door only when every decision is one of these outcomes and one of them matches the code.
FRONT_DOOR_CLOSURE_OUTCOMES: dict[FrontDoorClosure, DecisionOutcome] = {
    FrontDoorClosure.FD_NFA: DecisionOutcome.NFA,
    FrontDoorClosure.FD_ADVICE: DecisionOutcome.INFO_ADVICE,
    FrontDoorClosure.FD_EARLY_HELP: DecisionOutcome.EARLY_HELP,
    FrontDoorClosure.FD_EXISTING_CASE: DecisionOutcome.EXISTING_OPEN_CASE,
    FrontDoorClosure.FD_OTHER: DecisionOutcome.OTHER,
}
# The outcomes that open no referral (every outcome but REFERRAL_OUTCOMES).
FRONT_DOOR_OUTCOMES = frozenset(FRONT_DOOR_CLOSURE_OUTCOMES.values())


class ContactChannel(StrEnum):
    phone = "phone"
    email = "email"
    online_form = "online_form"
    police_notification = "police_notification"
    in_person = "in_person"
    other = "other"


class Urgency(StrEnum):
    red = "red"
    amber = "amber"
    green = "green"


class ConsentStatus(StrEnum):
    given = "given"
    not_given = "not_given"  # with a reason
    not_required = "not_required"  # with a reason


class ServiceType(StrEnum):
    front_door = "front_door"
    early_help = "early_help"
    assessment = "assessment"
    family_safeguarding = "family_safeguarding"
    children_in_care = "children_in_care"
    disabled_children = "disabled_children"
    leaving_care = "leaving_care"
    # Families First (REFERENCE.md 4): the single Family Help service (targeted early help and s17),
    # and Multi-Agency Child Protection Teams, as destinations of a child's journey.
    family_help = "family_help"
    macpt = "macpt"
    other = "other"


class SupersedeReason(StrEnum):
    new_information = "new_information"
    error_correction = "error_correction"
    management_review = "management_review"
    other = "other"


class FeedbackKind(StrEnum):
    acknowledgement = "acknowledgement"  # T1: within 1 working day
    feedback = "feedback"  # T2: the outcome, told to the referrer


class SupervisionKind(StrEnum):
    individual = "individual"  # individual case supervision
    group = "group"  # group supervision
    management_oversight = "management_oversight"  # a management oversight note
