FROM alpine
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.invalid/x.tar.gz /x
ADD --keep-git-dir=true https://example.invalid/repo.git#main /src
ADD --chown=app --link=false archive.tar.gz /opt/
