// Package wxcrypt implements Tencent's callback message crypto (WXBizMsgCrypt),
// shared by WeChat Official Accounts and WeCom: SHA-1 signatures over sorted
// strings, and AES-256-CBC frames of random16 | len32 | message | receive id.
//
// Written by hand rather than taken from silenceper/wechat/v2's util package
// because this is the hot path of every callback: util re-derives the AES key
// and cipher on every call, compares signatures with ==, and cannot report a
// bad signature apart from a bad body, which siyu must (401 vs 400).
package wxcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Errors the crypto reports. A bad signature is the caller's 401; the rest
// are malformed input, the caller's 400.
var (
	ErrSignature = errors.New("wxcrypt: signature mismatch")
	ErrMalformed = errors.New("wxcrypt: malformed ciphertext")
	ErrReceiver  = errors.New("wxcrypt: receive id mismatch")
	ErrNoKey     = errors.New("wxcrypt: no EncodingAESKey configured")
)

// blockSize is the PKCS#7 block Tencent pads to: 32 bytes, not AES's 16, so
// pad bytes run from 1 to 32.
const blockSize = 32

// Crypto signs, verifies, encrypts and decrypts for one account.
type Crypto struct {
	token     string
	receiveID string
	block     cipher.Block
	iv        []byte
}

// New returns the crypto for an account. encodingAESKey is the 43-character
// EncodingAESKey, or "" for an account in plain mode, whose Crypto only
// signs and verifies; receiveID is the AppID (OA) or CorpID (WeCom) that
// frames must carry, or "" to accept any.
func New(token, encodingAESKey, receiveID string) (*Crypto, error) {
	if encodingAESKey == "" {
		return &Crypto{token: token, receiveID: receiveID}, nil
	}
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wxcrypt.New: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	// Not Strict(): three of Tencent's four published keys end in a
	// character with non-zero low bits, which strict decoding rejects.
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("wxcrypt.New: EncodingAESKey is not base64 of 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wxcrypt.New: %w", err)
	}
	return &Crypto{token: token, receiveID: receiveID, block: block, iv: key[:16]}, nil
}

// CanDecrypt reports whether an EncodingAESKey is configured.
func (c *Crypto) CanDecrypt() bool { return c.block != nil }

// Sign returns the lowercase hex SHA-1 of parts sorted in byte order and
// concatenated, the signature every Tencent callback uses.
func Sign(parts ...string) string {
	var sig [2 * sha1.Size]byte
	sign(&sig, parts...)
	return string(sig[:])
}

// sign writes the signature of parts to sig. Verifying this way allocates
// nothing: it runs on every callback.
func sign(sig *[2 * sha1.Size]byte, parts ...string) {
	// Insertion sort: at most four short strings.
	var sorted [4]string
	s := sorted[:0]
	if len(parts) > len(sorted) {
		s = make([]string, 0, len(parts))
	}
	for _, p := range parts {
		i := len(s)
		s = append(s, p)
		for i > 0 && s[i-1] > p {
			s[i] = s[i-1]
			i--
		}
		s[i] = p
	}
	var buf [1024]byte
	joined := buf[:0]
	for _, p := range s {
		joined = append(joined, p...)
	}
	sum := sha1.Sum(joined)
	hex.Encode(sig[:], sum[:])
}

// verify reports whether signature is the signature of parts, in constant
// time.
func verify(signature string, parts ...string) bool {
	var sig [2 * sha1.Size]byte
	sign(&sig, parts...)
	return subtle.ConstantTimeCompare([]byte(signature), sig[:]) == 1
}

// VerifyURL checks a plain-mode signature: SHA-1 of token, timestamp and nonce.
func (c *Crypto) VerifyURL(signature, timestamp, nonce string) error {
	if !verify(signature, c.token, timestamp, nonce) {
		return ErrSignature
	}
	return nil
}

// VerifyMsg checks a msg_signature: SHA-1 of token, timestamp, nonce and the
// ciphertext (the body's Encrypt, or WeCom's encrypted echostr).
func (c *Crypto) VerifyMsg(msgSignature, timestamp, nonce, encrypted string) error {
	if !verify(msgSignature, c.token, timestamp, nonce, encrypted) {
		return ErrSignature
	}
	return nil
}

// Decrypt opens a ciphertext and returns the message and the frame's 16
// random bytes. It checks padding, the length field and the receive id.
func (c *Crypto) Decrypt(encrypted string) (msg, random []byte, err error) {
	if c.block == nil {
		return nil, nil, ErrNoKey
	}
	buf := make([]byte, base64.StdEncoding.DecodedLen(len(encrypted)))
	n, err := base64.StdEncoding.Decode(buf, []byte(encrypted))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: base64: %w", ErrMalformed, err)
	}
	buf = buf[:n]
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, nil, fmt.Errorf("%w: length %d is not a multiple of the block", ErrMalformed, len(buf))
	}
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(buf, buf)
	pad := int(buf[len(buf)-1])
	if pad < 1 || pad > blockSize || pad > len(buf) {
		return nil, nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	buf = buf[:len(buf)-pad]
	if len(buf) < 20 {
		return nil, nil, fmt.Errorf("%w: frame too short", ErrMalformed)
	}
	msgLen := int(binary.BigEndian.Uint32(buf[16:20]))
	if msgLen > len(buf)-20 {
		return nil, nil, fmt.Errorf("%w: length field %d exceeds frame", ErrMalformed, msgLen)
	}
	msg = buf[20 : 20+msgLen]
	if id := buf[20+msgLen:]; c.receiveID != "" && string(id) != c.receiveID {
		return nil, nil, ErrReceiver
	}
	return msg, buf[:16], nil
}

// Encrypt seals msg in a frame with the given 16 random bytes, or fresh
// ones when random is nil, and returns the base64 ciphertext.
func (c *Crypto) Encrypt(random, msg []byte) (string, error) {
	if c.block == nil {
		return "", ErrNoKey
	}
	frameLen := 20 + len(msg) + len(c.receiveID)
	pad := blockSize - frameLen%blockSize
	buf := make([]byte, frameLen+pad)
	if random == nil {
		if _, err := rand.Read(buf[:16]); err != nil {
			return "", fmt.Errorf("wxcrypt.Encrypt: %w", err)
		}
	} else if len(random) != 16 {
		return "", fmt.Errorf("wxcrypt.Encrypt: random must be 16 bytes, got %d", len(random))
	} else {
		copy(buf, random)
	}
	binary.BigEndian.PutUint32(buf[16:20], uint32(len(msg)))
	copy(buf[20:], msg)
	copy(buf[20+len(msg):], c.receiveID)
	copy(buf[frameLen:], bytes.Repeat([]byte{byte(pad)}, pad))
	cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// Seal encrypts a reply with fresh randomness and signs it with the given
// timestamp and nonce, returning the ciphertext and its msg_signature.
func (c *Crypto) Seal(msg []byte, timestamp, nonce string) (encrypted, msgSignature string, err error) {
	encrypted, err = c.Encrypt(nil, msg)
	if err != nil {
		return "", "", err
	}
	return encrypted, Sign(c.token, timestamp, nonce, encrypted), nil
}
