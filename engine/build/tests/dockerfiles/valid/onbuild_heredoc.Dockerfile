FROM alpine
ONBUILD RUN <<EOF
echo on build
EOF
ONBUILD COPY <<-X /etc/x
	x
	X
