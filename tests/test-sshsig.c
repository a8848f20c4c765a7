/* Tests of sync/sshsig.c against OpenSSH itself: a key file daiban
 * writes is one ssh-keygen reads, a signature daiban makes is one
 * `ssh-keygen -Y verify` accepts, and one ssh-keygen makes is one daiban
 * verifies; a changed byte anywhere fails. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sync/sshsig.h"
#include "tests/harness.h"

static const char msg[] = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor x <y> 1 +0000\n\nhello\n";

static int write_file(const char *path, const char *text, mode_t mode)
{
        FILE *f = fopen(path, "w");
        if (!f)
                return -1;
        fputs(text, f);
        fclose(f);
        return chmod(path, mode);
}

static char *read_file(const char *path)
{
        FILE *f = fopen(path, "r");
        static char buf[8192];
        size_t n;
        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        return buf;
}

static int run(const char *cmd)
{
        int r = system(cmd);
        return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

TEST(sign_and_verify_round_trip)
{
        struct sshsig_key k;
        uint8_t pk[SSHSIG_PK_BYTES];
        char *sig = NULL, err[256];

        CHECK_INT(sshsig_keygen(&k), ==, 0);
        CHECK_INT(sshsig_sign(&k, msg, strlen(msg), &sig), ==, 0);
        CHECK(strncmp(sig, "-----BEGIN SSH SIGNATURE-----\n", 30) == 0);
        CHECK(sig[strlen(sig) - 1] == '-');     /* no final newline (a commit header) */
        CHECK_INT(sshsig_verify(sig, strlen(sig), msg, strlen(msg), pk, err, sizeof err), ==, 0);
        CHECK(memcmp(pk, k.pk, sizeof pk) == 0);
        /* the message changed by one byte */
        char other[sizeof msg];
        memcpy(other, msg, sizeof msg);
        other[50] ^= 1;
        CHECK_INT(sshsig_verify(sig, strlen(sig), other, strlen(other), pk, err, sizeof err), ==, -EINVAL);
        CHECK(strstr(err, "does not match"));
        /* every byte of the signature's base64 changed in turn: never accepted */
        int refused = 0, tried = 0;
        for (size_t i = 30; i < strlen(sig) - 28; i++) {
                if (sig[i] == '\n')
                        continue;
                char save = sig[i];
                sig[i] = save == 'A' ? 'B' : 'A';
                tried++;
                refused += sshsig_verify(sig, strlen(sig), msg, strlen(msg), pk, err, sizeof err) == -EINVAL;
                sig[i] = save;
        }
        CHECK_INT(refused, ==, tried);
        CHECK(tried > 200);
        free(sig);
}

TEST(fingerprints)
{
        struct sshsig_key k;
        char line[160], fp[80], spoken[64];
        uint8_t pk[SSHSIG_PK_BYTES];

        CHECK_INT(sshsig_keygen(&k), ==, 0);
        sshsig_pubkey_line(k.pk, "330225", line, sizeof line);
        CHECK(strncmp(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37) == 0);
        CHECK_INT(sshsig_pubkey_parse(line, pk), ==, 0);
        CHECK(memcmp(pk, k.pk, sizeof pk) == 0);
        CHECK_INT(sshsig_pubkey_parse("ssh-rsa AAAAB3Nza 1", pk), ==, -EINVAL);
        CHECK_INT(sshsig_pubkey_parse("ssh-ed25519 !!!", pk), ==, -EINVAL);
        sshsig_fingerprint(k.pk, fp, sizeof fp);
        sshsig_fingerprint_spoken(k.pk, spoken, sizeof spoken);
        CHECK_INT(strlen(spoken), ==, 39);
        CHECK(sshsig_key_matches(k.pk, line));
        CHECK(sshsig_key_matches(k.pk, fp));
        CHECK(sshsig_key_matches(k.pk, spoken));
        /* read over the phone: lower case, no dashes */
        char heard[64];
        size_t o = 0;
        for (const char *p = spoken; *p; p++)
                if (*p != '-')
                        heard[o++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        heard[o] = '\0';
        CHECK(sshsig_key_matches(k.pk, heard));
        heard[3] = heard[3] == '0' ? '1' : '0';
        CHECK(!sshsig_key_matches(k.pk, heard));
        CHECK(!sshsig_key_matches(k.pk, "SHA256:nope"));
}

TEST(openssh_reads_daiban_keys_and_signatures)
{
        char dir[4096], cmd[16384], path[4200], *text = NULL, line[160], err[256];
        struct sshsig_key k, back;
        char *sig = NULL;

        if (run("command -v ssh-keygen >/dev/null") != 0) {
                test_skip("ssh-keygen is not installed (openssh-client)");
                return;
        }
        snprintf(dir, sizeof dir, "%s", test_tmpdir());
        CHECK_INT(sshsig_keygen(&k), ==, 0);
        CHECK_INT(sshsig_key_encode(&k, "330225101202", &text), ==, 0);
        CHECK_INT(sshsig_key_decode(text, strlen(text), &back, err, sizeof err), ==, 0);
        CHECK(memcmp(&back, &k, sizeof k) == 0);
        snprintf(path, sizeof path, "%s/node.key", dir);
        CHECK_INT(write_file(path, text, 0600), ==, 0);
        free(text);
        /* ssh-keygen derives the same public key from daiban's file */
        snprintf(cmd, sizeof cmd, "ssh-keygen -y -f %s > %s/derived.pub", path, dir);
        CHECK_INT(run(cmd), ==, 0);
        snprintf(path, sizeof path, "%s/derived.pub", dir);
        sshsig_pubkey_line(k.pk, NULL, line, sizeof line);
        CHECK(strncmp(read_file(path), line, strlen(line)) == 0);
        /* ssh-keygen -Y verify accepts daiban's signature */
        CHECK_INT(sshsig_sign(&k, msg, strlen(msg), &sig), ==, 0);
        snprintf(path, sizeof path, "%s/msg.sig", dir);
        CHECK_INT(write_file(path, sig, 0644), ==, 0);
        FILE *f = fopen(path, "a");
        fputc('\n', f);
        fclose(f);
        free(sig);
        snprintf(path, sizeof path, "%s/msg", dir);
        CHECK_INT(write_file(path, msg, 0644), ==, 0);
        snprintf(path, sizeof path, "%s/allowed", dir);
        snprintf(cmd, sizeof cmd, "330225101202 namespaces=\"git\" %s\n", line);
        CHECK_INT(write_file(path, cmd, 0644), ==, 0);
        snprintf(cmd, sizeof cmd,
                 "ssh-keygen -q -Y verify -f %s/allowed -I 330225101202 -n git -s %s/msg.sig < %s/msg >/dev/null",
                 dir, dir, dir);
        CHECK_INT(run(cmd), ==, 0);
        /* and refuses it for another message */
        snprintf(cmd, sizeof cmd, "printf x >> %s/msg && ssh-keygen -q -Y verify -f %s/allowed -I 330225101202 -n git"
                 " -s %s/msg.sig < %s/msg >/dev/null 2>&1", dir, dir, dir, dir);
        CHECK(run(cmd) != 0);
}

TEST(daiban_reads_openssh_keys_and_signatures)
{
        char dir[4096], cmd[16384], path[4200], err[256];
        struct sshsig_key k;
        uint8_t pk[SSHSIG_PK_BYTES], pk2[SSHSIG_PK_BYTES];

        if (run("command -v ssh-keygen >/dev/null") != 0) {
                test_skip("ssh-keygen is not installed (openssh-client)");
                return;
        }
        snprintf(dir, sizeof dir, "%s", test_tmpdir());
        snprintf(cmd, sizeof cmd, "ssh-keygen -q -t ed25519 -N '' -C test -f %s/k && printf '%%s' '%s' > %s/m"
                 " && ssh-keygen -q -Y sign -f %s/k -n git %s/m", dir, "signed by openssh", dir, dir, dir);
        CHECK_INT(run(cmd), ==, 0);
        snprintf(path, sizeof path, "%s/k", dir);
        char *t = read_file(path);
        CHECK(t);
        CHECK_INT(sshsig_key_decode(t, strlen(t), &k, err, sizeof err), ==, 0);
        snprintf(path, sizeof path, "%s/k.pub", dir);
        CHECK_INT(sshsig_pubkey_parse(read_file(path), pk), ==, 0);
        CHECK(memcmp(pk, k.pk, sizeof pk) == 0);
        snprintf(path, sizeof path, "%s/m.sig", dir);
        t = read_file(path);
        CHECK_INT(sshsig_verify(t, strlen(t), "signed by openssh", 17, pk2, err, sizeof err), ==, 0);
        CHECK(memcmp(pk2, pk, sizeof pk) == 0);
        /* a signature in another namespace is refused */
        snprintf(cmd, sizeof cmd, "rm -f %s/m.sig && ssh-keygen -q -Y sign -f %s/k -n file %s/m", dir, dir, dir);
        CHECK_INT(run(cmd), ==, 0);
        t = read_file(path);
        CHECK_INT(sshsig_verify(t, strlen(t), "signed by openssh", 17, pk2, err, sizeof err), ==, -EINVAL);
        CHECK(strstr(err, "namespace"));
}

TEST(bad_key_files)
{
        struct sshsig_key k;
        char err[256], *text = NULL;

        CHECK_INT(sshsig_key_decode("hello", 5, &k, err, sizeof err), ==, -EINVAL);
        CHECK(strstr(err, "BEGIN OPENSSH PRIVATE KEY"));
        CHECK_INT(sshsig_keygen(&k), ==, 0);
        CHECK_INT(sshsig_key_encode(&k, "x", &text), ==, 0);
        /* cut before the end line */
        CHECK_INT(sshsig_key_decode(text, strlen(text) - 40, &k, err, sizeof err), ==, -EINVAL);
        /* a byte of the body changed: refused, never a different key */
        int refused = 0, different = 0;
        for (size_t i = 40; i < strlen(text) - 40; i++) {
                struct sshsig_key got;
                char save = text[i];
                if (save == '\n' || save == '=')
                        continue;
                text[i] = save == 'A' ? 'B' : 'A';
                if (sshsig_key_decode(text, strlen(text), &got, err, sizeof err) < 0)
                        refused++;
                else
                        different += memcmp(&got, &k, sizeof k) != 0;
                text[i] = save;
        }
        CHECK(refused > 100);
        CHECK_INT(different, ==, 0);
        free(text);
}
