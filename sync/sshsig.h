/* Ed25519 keys and signatures in OpenSSH's formats, so that stock tools
 * check what daiban signs: a change-set commit's `gpgsig` header holds an
 * "SSH SIGNATURE" (PROTOCOL.sshsig, namespace "git", SHA-512), which
 * `git verify-commit` with gpg.format=ssh verifies; a node's key file is
 * an unencrypted "OPENSSH PRIVATE KEY" that `ssh-keygen -y -f` reads.
 * Pure: libsodium for the arithmetic, nothing printed, no files here but
 * the key file's bytes. See docs/change-set.md ("Signatures"). */
#ifndef DAIBAN_SYNC_SSHSIG_H
#define DAIBAN_SYNC_SSHSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SSHSIG_PK_BYTES 32
#define SSHSIG_SK_BYTES 64      /* seed || public key, libsodium's layout */
#define SSHSIG_NAMESPACE "git"
#define SSHSIG_MAX_ARMOR 4096   /* an armored signature is about 300 bytes */

struct sshsig_key {
        uint8_t pk[SSHSIG_PK_BYTES];
        uint8_t sk[SSHSIG_SK_BYTES];
};

/* A fresh key pair. 0 or -EIO (libsodium failed to start). */
int sshsig_keygen(struct sshsig_key *k);

/* The key file (OpenSSH private key, unencrypted): malloc'ed text. */
int sshsig_key_encode(const struct sshsig_key *k, const char *comment, char **ret);
/* Parse a key file written by sshsig_key_encode (or by ssh-keygen -t
 * ed25519 -N ""). -EINVAL with a reason in err for anything else. */
int sshsig_key_decode(const char *text, size_t len, struct sshsig_key *k, char *err, size_t errlen);

/* "ssh-ed25519 AAAA... comment" (comment may be NULL). buf >= 128. */
void sshsig_pubkey_line(const uint8_t pk[SSHSIG_PK_BYTES], const char *comment, char *buf, size_t len);
/* Parse "ssh-ed25519 BASE64 [comment]". 0 or -EINVAL. */
int sshsig_pubkey_parse(const char *line, uint8_t pk[SSHSIG_PK_BYTES]);
/* "SHA256:..." as ssh-keygen -l prints it. buf >= 64. */
void sshsig_fingerprint(const uint8_t pk[SSHSIG_PK_BYTES], char *buf, size_t len);
/* The same hash for reading over the phone: eight groups of four
 * digits and letters ("K7QH-2M9D-..."), case-insensitive. buf >= 48. */
void sshsig_fingerprint_spoken(const uint8_t pk[SSHSIG_PK_BYTES], char *buf, size_t len);
/* Does text name this key: a public key line, a "SHA256:" fingerprint,
 * or the spoken form (dashes and case ignored)? */
bool sshsig_key_matches(const uint8_t pk[SSHSIG_PK_BYTES], const char *text);

/* Sign msg in namespace "git": the armored signature ("-----BEGIN SSH
 * SIGNATURE-----" ... "-----END SSH SIGNATURE-----", no final newline),
 * malloc'ed. 0 or -ENOMEM. */
int sshsig_sign(const struct sshsig_key *k, const void *msg, size_t len, char **ret);

/* Verify an armored signature over msg in namespace "git": 0 with the
 * signer's public key in pk; -EINVAL with a reason in err (malformed,
 * another namespace or algorithm, or a signature that does not verify). */
int sshsig_verify(const char *armor, size_t alen, const void *msg, size_t len, uint8_t pk[SSHSIG_PK_BYTES],
                  char *err, size_t errlen);

#endif
