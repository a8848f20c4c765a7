"""Valid and invalid identifiers for tests: GB 11643 resident ID numbers
and GB 32100 unified social credit codes, computed here independently of
the C code so that a wrong check in C cannot agree with a wrong test."""

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"


def id_number(birth="19800101", area="330225", seq="123"):
    """A valid ID: area code, birth date YYYYMMDD, 3-digit sequence (odd
    last digit = male), and its check character."""
    first17 = area + birth + seq
    assert len(first17) == 17
    s = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS))
    return first17 + ID_CHECK[s % 11]


def corrupt_check(idn):
    """The same ID with a wrong check character."""
    last = idn[-1]
    for c in "0123456789X":
        if c != last:
            return idn[:-1] + c


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def uscc(first17="92330225MA2H12345"):
    s = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return first17 + USCC_ALPHABET[(31 - s % 31) % 31]
