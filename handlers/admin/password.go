package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/siyu-bot/siyu/bot"
)

// Passwords are hashed with Argon2id (RFC 9106), memory-hard so that a
// stolen staff table costs an attacker memory per guess, not only time.
// The parameters are OWASP's (Password Storage Cheat Sheet): 19 MiB, two
// passes, one lane. They are stored in each hash (the PHC string format),
// so raising them later leaves old hashes checkable.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length bounds: 10 characters make a guessed password costly
// even at the sign-in limit; 256 bytes bound the hashing work a request
// can ask for.
const (
	minPasswordRunes = 10
	maxPasswordBytes = 256
)

// CheckPasswordRules returns why pw cannot be a staff password, in
// Chinese for staff, or nil. Errors wrap bot.ErrInvalid.
func CheckPasswordRules(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("密码须为 UTF-8 文本: %w", bot.ErrInvalid)
	case utf8.RuneCountInString(pw) < minPasswordRunes:
		return fmt.Errorf("密码至少 %d 个字符: %w", minPasswordRunes, bot.ErrInvalid)
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("密码不能超过 %d 字节: %w", maxPasswordBytes, bot.ErrInvalid)
	}
	return nil
}

// HashPassword returns pw's Argon2id hash as a PHC string
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>").
func HashPassword(pw string) (string, error) {
	if err := CheckPasswordRules(pw); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("admin.HashPassword: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash is a stored hash siyu cannot read.
var errBadHash = errors.New("admin: unreadable password hash")

// checkPassword reports whether pw matches hash, comparing in constant
// time. An unreadable hash matches nothing.
func checkPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, key
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<20 || t > 16 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) == 0 || len(key) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}
