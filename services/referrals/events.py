"""The journey events the referrals service publishes (its catalogue)."""

from shared.events.contract import Catalogue

catalogue = Catalogue("referrals")
