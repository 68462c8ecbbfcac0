#!/usr/bin/env bash
# The wordpress example's two images without an engine: the database entrypoint and the
# WordPress entrypoint (WORDPRESS_DB_* → Debian's config-default.php, Apache in the foreground)
# on loopback. The installer page is served, the install completes through the same HTTP form
# post a browser sends, a post created over XML-RPC appears on the home page, and the site
# answers again after Apache is restarted on the same database.
. "$(dirname "$0")/lib.sh"
sandbox "$EXAMPLES" "$IN_SANDBOX"'
install -m 755 /src/_base/mariadb/docker-entrypoint.sh /usr/local/bin/db-entrypoint.sh
install -m 644 /src/_base/mariadb/container.cnf /etc/mysql/mariadb.conf.d/99-container.cnf
install -m 755 /src/wordpress/wordpress/docker-entrypoint.sh /usr/local/bin/wp-entrypoint.sh
rm -f /etc/apache2/sites-enabled/*
install -m 644 /src/wordpress/wordpress/wordpress-site.conf /etc/apache2/sites-available/wordpress.conf
a2ensite -q wordpress >/dev/null; a2enmod -q rewrite >/dev/null
chown -R www-data:www-data /var/lib/wordpress/wp-content
rm -rf /var/lib/mysql/*
( MYSQL_ROOT_PASSWORD=wordpress MYSQL_DATABASE=wordpress MYSQL_USER=wordpress MYSQL_PASSWORD=wordpress \
  exec db-entrypoint.sh mariadbd ) >/tmp/db.log 2>&1 &
wait_for 60 "the database" mysqladmin ping -h 127.0.0.1 --silent || { cat /tmp/db.log; exit 1; }
# Apache signals its whole process group when it stops: its own group, as in a container.
start_wp() {
  ( WORDPRESS_DB_HOST=127.0.0.1:3306 WORDPRESS_DB_USER=wordpress WORDPRESS_DB_PASSWORD=wordpress \
    WORDPRESS_DB_NAME=wordpress exec setsid wp-entrypoint.sh apache2-foreground ) >>/tmp/wp.log 2>&1 &
  wait_for 30 "Apache" curl -fsS -o /dev/null http://127.0.0.1/ || { cat /tmp/wp.log; exit 1; }
}
start_wp
grep -q "DB_HOST.*127.0.0.1:3306" /etc/wordpress/config-default.php; ok "WORDPRESS_DB_* written to config-default.php"
curl -fsS http://127.0.0.1/wp-admin/install.php > /tmp/page; grep -q "<title>WordPress" /tmp/page; ok "the installer page is served"
curl -fsS -o /dev/null -X POST "http://127.0.0.1/wp-admin/install.php?step=2" \
  --data-urlencode "weblog_title=berth example" --data-urlencode "user_name=admin" \
  --data-urlencode "admin_password=Berth-example-1" --data-urlencode "admin_password2=Berth-example-1" \
  --data-urlencode "pw_weak=on" --data-urlencode "admin_email=admin@example.invalid" \
  --data-urlencode "blog_public=0" --data-urlencode "language="
curl -fsS http://127.0.0.1/ > /tmp/page; grep -q "berth example" /tmp/page; ok "the install completed through the form post"
cat > /tmp/post.xml <<XML
<?xml version="1.0"?><methodCall><methodName>wp.newPost</methodName><params>
<param><value><int>1</int></value></param><param><value><string>admin</string></value></param>
<param><value><string>Berth-example-1</string></value></param>
<param><value><struct><member><name>post_title</name><value><string>Hello from berth $$</string></value></member>
<member><name>post_content</name><value><string>Made over HTTP.</string></value></member>
<member><name>post_status</name><value><string>publish</string></value></member></struct></value></param>
</params></methodCall>
XML
curl -fsS -H "Content-Type: text/xml" --data-binary @/tmp/post.xml http://127.0.0.1/xmlrpc.php > /tmp/reply
grep -q "<string>[0-9]*</string>" /tmp/reply || { cat /tmp/post.xml /tmp/reply; exit 1; }
curl -fsS http://127.0.0.1/ > /tmp/page; grep -q "Hello from berth $$" /tmp/page; ok "a post created over XML-RPC is on the home page"
apache2ctl -k graceful-stop 2>/dev/null || pkill -x apache2
wait_for 20 "Apache to stop" bash -c "! pgrep -x apache2"
start_wp
curl -fsS http://127.0.0.1/ > /tmp/page; grep -q "Hello from berth $$" /tmp/page; ok "the post survives an Apache restart"
'
echo "PASS: wordpress images"
