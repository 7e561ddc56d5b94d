package wechat

import "github.com/siyu-bot/siyu/handlers/internal/wxcrypt"

func signWith(parts ...string) string { return wxcrypt.Sign(parts...) }
