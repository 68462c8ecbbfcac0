FROM alpine
RUN <<-EOT
	if true; then
		echo tabbed
	fi
	EOT
