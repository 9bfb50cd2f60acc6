// Package chserver configures a private clickhouse-server: loopback
// only, its data, logs and configuration in one directory, the default
// user without a password. The lab runs one for Linseed with `calico-lab
// up --linseed-store clickhouse`, and the tests run their own (chtest).
package chserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Binary is the server's executable (Debian's clickhouse-server).
const Binary = "clickhouse-server"

// WriteConfig writes config.xml and users.xml into dir for a server
// listening on 127.0.0.1 (native protocol on tcpPort, HTTP on httpPort)
// and keeping its data under dir, and returns config.xml's path.
func WriteConfig(dir string, tcpPort, httpPort int) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	config := fmt.Sprintf(`<yandex>
  <logger><level>warning</level><log>%[1]s/server.log</log><errorlog>%[1]s/error.log</errorlog></logger>
  <http_port>%[2]d</http_port>
  <tcp_port>%[3]d</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
</yandex>
`, dir, httpPort, tcpPort)
	users := `<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`
	path := filepath.Join(dir, "config.xml")
	if err := errors.Join(os.WriteFile(path, []byte(config), 0o600),
		os.WriteFile(filepath.Join(dir, "users.xml"), []byte(users), 0o600)); err != nil {
		return "", err
	}
	return path, nil
}
