# The seed's docker-py script (seeds/001), as published, with its one
# destructive call replaced by a print so that it plans without removing:
# client.images.remove(img.id, force=True)  ->  print("would remove", ...)
import docker
import logging
import sys

logging.basicConfig(stream=sys.stderr, level=logging.WARNING)


def clean_unused_pytorch_images():
    client = docker.from_env()
    deleted_count = 0
    for img in client.images.list(all=True):
        if not img.tags:
            continue  # untagged images are left to prune
        if any("pytorch" in tag.lower() for tag in img.tags):
            # is any container using the image?
            containers = client.containers.list(all=True, filters={"ancestor": img.id})
            if not containers:
                protected_tags = ["latest", "stable"]
                if any(tag.endswith(t) for tag in img.tags for t in protected_tags):
                    logging.info(f"skip protected image: {img.tags}")
                    continue
                try:
                    logging.info(f"remove unused image: {img.tags}")
                    print("would remove", img.id)
                    deleted_count += 1
                except Exception as e:
                    logging.error(f"remove failed {img.id}: {e}")
    logging.info(f"removed {deleted_count} unused PyTorch images")


if __name__ == "__main__":
    clean_unused_pytorch_images()
