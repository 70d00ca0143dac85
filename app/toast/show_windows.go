package toast

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf16"

	"golang.org/x/sys/windows"
)

// showScript shows the toast of $env:ESMON_TOAST_XML under the
// AppUserModelID $env:ESMON_TOAST_APPID, through the WinRT toast API as
// Fyne's Windows notifications do. The script is a constant; the toast
// reaches it through the environment, so no alert text is ever parsed as
// PowerShell.
const showScript = `$ErrorActionPreference = 'Stop'
[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] > $null
[Windows.Data.Xml.Dom.XmlDocument, Windows.Data.Xml.Dom.XmlDocument, ContentType = WindowsRuntime] > $null
$doc = New-Object Windows.Data.Xml.Dom.XmlDocument
$doc.LoadXml($env:ESMON_TOAST_XML)
$toast = [Windows.UI.Notifications.ToastNotification]::new($doc)
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier($env:ESMON_TOAST_APPID).Show($toast)
`

// Show shows a toast (the document of Toast.XML) under appID, the
// AppUserModelID Register wrote. It runs Windows PowerShell, which every
// Windows 10 and 11 has, without a window, and waits for it.
func Show(ctx context.Context, appID string, doc []byte) error {
	ps := "powershell.exe"
	if root := os.Getenv("SystemRoot"); root != "" {
		ps = filepath.Join(root, `System32\WindowsPowerShell\v1.0\powershell.exe`)
	}
	cmd := exec.CommandContext(ctx, ps, "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
		"-EncodedCommand", encodeCommand(showScript))
	cmd.Env = append(os.Environ(), "ESMON_TOAST_XML="+string(doc), "ESMON_TOAST_APPID="+appID)
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: windows.CREATE_NO_WINDOW}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("show toast with PowerShell: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// encodeCommand is script as -EncodedCommand takes it: UTF-16LE, base64.
func encodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}
